"""Full-catalogue ranking metrics for one held-out item per user.

Ranks are 0-based and pessimistic on ties: every other candidate scoring at
least as high as the target ranks above it.
"""

from __future__ import annotations

import numpy as np


def target_ranks(scores: np.ndarray, targets: np.ndarray, excluded: np.ndarray | None = None) -> np.ndarray:
    """0-based rank of each user's target among non-excluded items.

    scores [B, N] float; targets [B] catalogue positions; excluded [B, N] bool
    (True = not a candidate, e.g. the user's training items). Returns [B] int.
    """
    scores = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets]
    at_least = scores >= target_scores[:, None]
    if excluded is not None:
        at_least &= ~excluded
    at_least[rows, targets] = False
    return at_least.sum(axis=1)


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@k with one relevant item: 1/log2(rank+2) if rank < k else 0."""
    ranks = np.asarray(ranks)
    if len(ranks) == 0:
        return float("nan")
    gains = np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)
    return float(gains.mean())


def hit_rate_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of users whose target ranks in the top k."""
    ranks = np.asarray(ranks)
    if len(ranks) == 0:
        return float("nan")
    return float((ranks < k).mean())
