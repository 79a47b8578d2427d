"""Campaign audiences: the customers most likely to act on an item or a category, at the site.

``audience_scores`` gives every customer the model's log-probability of choosing the target among the whole
catalogue: log sum_{i in target} exp(logit_ui) - log sum_{j in catalogue} exp(logit_uj) (a softmax over the
catalogue, as the DLRM is trained with a sampled softmax), so a customer who likes everything does not
outrank one who likes the target most. Customers who already interacted with every target item are left out
unless asked (they are a buy-again audience, ``recmodel.buy_again``).

Measured with ``simulations.audience_lift``: how much more often than a random audience of the same size an
audience holds the customers whose held-out next item is the target.
"""

from __future__ import annotations

import numpy as np
import torch

from recmodel.data.examples import candidates_batch
from recmodel.data.interactions import Catalogue, Users
from recmodel.model.dlrm import DLRM
from recmodel.model.shared_candidates import score_shared_candidates

PAIRS_PER_BLOCK = 262_144  # customers x items scored per forward pass


@torch.no_grad()
def log_probabilities(model: DLRM, catalogue: Catalogue, users: Users, history_length: int, rows: np.ndarray,
                      profiles: np.ndarray | None = None) -> torch.Tensor:
    """[B, N] float64: log-softmax over the catalogue of the model's logits for customers ``rows`` [B]."""
    model.eval()
    batch = candidates_batch(catalogue, users, rows, np.arange(len(catalogue)), history_length, profiles)
    return torch.log_softmax(score_shared_candidates(model, batch).double(), dim=1)


def audience_scores(model: DLRM, catalogue: Catalogue, users: Users, history_length: int, targets: np.ndarray,
                    profiles: np.ndarray | None = None) -> np.ndarray:
    """[U] float64: each customer's log-probability of the catalogue positions ``targets`` [T] together."""
    block = max(1, PAIRS_PER_BLOCK // len(catalogue))
    scores = np.empty(len(users))
    for start in range(0, len(users), block):
        rows = np.arange(start, min(len(users), start + block))
        logp = log_probabilities(model, catalogue, users, history_length, rows, profiles)
        scores[rows] = torch.logsumexp(logp[:, targets], dim=1).numpy()
    return scores


def already_acted(users: Users, targets: np.ndarray) -> np.ndarray:
    """[U] bool: customers whose history holds every target item (a user's train items are distinct)."""
    targets = np.unique(targets)
    user_of = np.repeat(np.arange(len(users)), np.diff(users.train_offsets))
    held = np.bincount(user_of[np.isin(users.train_items, targets)], minlength=len(users))
    return held >= len(targets)


def top_audience(scores: np.ndarray, size: int, excluded: np.ndarray | None = None) -> np.ndarray:
    """Row indices of the ``size`` highest scores (best first), skipping ``excluded`` rows."""
    scores = np.where(excluded, -np.inf, scores) if excluded is not None else scores
    order = np.argsort(-scores, kind="stable")
    return order[np.isfinite(scores[order])][:size]
