"""Membership scores: how much a released model favours each canary's fresh item for that canary.

``fresh_item_logits(model, ...)`` is the DLRM's logit [m] of each canary's fresh item given the canary's own
training history, attributes and profile. A model trained on a canary raises that logit (the fresh item is a
positive of that canary alone); a model that never saw the canary has no reason to.

Views (each a score per canary, higher: more likely included):

- ``site updates`` (white-box, the strongest view a curious coordinator has): the sum over rounds of
  logit(partner's released model of round r) - logit(global model round r started from), for the partner that
  holds the canary, over the rounds that partner's update was kept;
- ``final model`` (what the public sees): logit(last aggregate) - logit(global model of round 1).

Both differences cancel the popularity prior (set before round 1); ``recmodel.empirical_audit.run_audit`` scores
that release apart, as the ``item counts`` view.
"""

from __future__ import annotations

import numpy as np
import torch

from recmodel.config import RunConfig
from recmodel.data.examples import candidates_batch
from recmodel.data.interactions import Catalogue, Users
from recmodel.model.bundle import BundleSpec, Recommender, site_profiles


class CanaryScorer:
    """Scores canaries ``rows`` [m] (positions in ``users``) on their fresh items ``items`` [m] (catalogue
    positions) under any weights of one architecture."""

    def __init__(self, spec: BundleSpec, config: RunConfig, catalogue: Catalogue, users: Users, rows: np.ndarray,
                 items: np.ndarray) -> None:
        self.model = Recommender(spec)
        self.config, self.catalogue, self.users = config, catalogue, users
        self.rows, self.items = np.asarray(rows, dtype=np.int64), np.asarray(items, dtype=np.int64)
        self.canary_users = users.subset(self.rows)

    @torch.no_grad()
    def logits(self, state: dict[str, torch.Tensor]) -> np.ndarray:
        """[m] float64: each canary's logit of its fresh item under ``state``."""
        self.model.load_state_dict(state)
        self.model.eval()
        profiles = site_profiles(self.model, self.catalogue, self.canary_users, self.config)
        batch = candidates_batch(self.catalogue, self.canary_users, np.arange(len(self.rows)), self.items[:, None],
                                 self.config.history_length, profiles)
        return self.model.dlrm(batch).reshape(-1).double().numpy()
