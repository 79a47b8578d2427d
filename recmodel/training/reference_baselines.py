"""Non-federated references for a simulated run, trained with the run's own model and settings.

- ``centralised``: the same architecture trained without privacy on every partner's users pooled in one place
  (what the federation would reach if the data could be pooled; simulation only: it reads all the data).
- ``local_only``: each partner trains the same model alone on its own users, without privacy (its model
  never leaves the site, so it needs none) and is evaluated on its own test users: what a partner gets
  without the federation. Reported as the user-weighted mean over partners and per partner.

Both train ``num-server-rounds`` x the local epochs the partners run, with the same learning rate, batch
size, loss and item prior (from exact item counts of the users trained on).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from recmodel.config import RunConfig
from recmodel.data.interactions import Catalogue, Users
from recmodel.evaluation import ranking_quality
from recmodel.model.bundle import BundleSpec, Recommender, site_profiles
from recmodel.privacy.item_counts import item_count_sums, prior_from_counts
from recmodel.training.private_round import run_private_round


def train_without_privacy(spec: BundleSpec, catalogue: Catalogue, users: Users, config: RunConfig,
                          *, state_dir: Path) -> Recommender:
    """The bundle trained in ``config.num_server_rounds`` rounds on ``users`` alone, DP off."""
    config = dataclasses.replace(config, dp=False)
    torch.manual_seed(config.seed)
    model = Recommender(spec)
    if config.popularity_prior:
        counts = item_count_sums(catalogue, users, recent=config.popularity_recent_items)
        with torch.no_grad():
            model.dlrm.item_prior.copy_(torch.from_numpy(prior_from_counts(counts)))
    for server_round in range(1, config.num_server_rounds + 1):
        run_private_round(model, catalogue, users, config, state_dir=state_dir, partner="reference",
                          run_id="reference", server_round=server_round, max_epsilon=math.inf)
    return model


def quality(model: Recommender, catalogue: Catalogue, users: Users, config: RunConfig) -> dict:
    """NDCG/HR@K of ``model`` on ``users``' test items, and the user count."""
    return ranking_quality(model, catalogue, users, config, site_profiles(model, catalogue, users, config))


def reference_baselines(spec: BundleSpec, catalogue: Catalogue, users: Users, partitions: list[np.ndarray],
                        site_names: list[str], config: RunConfig,
                        progress: Callable[[str], None] = lambda line: None) -> dict:
    """{"centralised": {ndcg@K, hr@K, users}, "local_only": {ndcg@K, hr@K, users, "sites": {name: {...}}}}.

    partitions: each partner's rows of ``users``; ``progress`` receives one line per model trained.
    """
    k = config.top_k
    with tempfile.TemporaryDirectory(prefix="fedrec-reference-") as scratch:
        central = quality(train_without_privacy(spec, catalogue, users, config, state_dir=Path(scratch) / "c"),
                          catalogue, users, config)
        progress(f"centralised non-private reference (same model, all partners' users pooled): "
                 f"NDCG@{k}={central[f'ndcg@{k}']:.4f} HR@{k}={central[f'hr@{k}']:.4f}")
        sites = {}
        for index, (name, rows) in enumerate(zip(site_names, partitions)):
            own = users.subset(rows)
            model = train_without_privacy(spec, catalogue, own, config, state_dir=Path(scratch) / f"s{index}")
            sites[name] = quality(model, catalogue, own, config)
    weights = np.array([site["users"] for site in sites.values()], dtype=np.float64)
    local = {key: float(np.average([site[key] for site in sites.values()], weights=weights))
             for key in (f"ndcg@{k}", f"hr@{k}")}
    local.update(users=int(weights.sum()), sites=sites)
    progress(f"local-only reference (each partner alone on its own users, no privacy; user-weighted mean): "
             f"NDCG@{k}={local[f'ndcg@{k}']:.4f} HR@{k}={local[f'hr@{k}']:.4f}")
    return {"centralised": central, "local_only": local}
