"""Full-catalogue ranking metrics for one held-out item per user.

Ranks are 0-based and pessimistic on ties: every other candidate scoring at
least as high as the target ranks above it. A NaN score counts as the lowest
possible: a diverged model ranks its targets last, never first.
"""

from __future__ import annotations

import numpy as np


def target_ranks(scores: np.ndarray, targets: np.ndarray, excluded: np.ndarray | None = None) -> np.ndarray:
    """0-based rank of each user's target among non-excluded items.

    scores [B, N] float; targets [B] catalogue positions; excluded [B, N] bool
    (True = not a candidate, e.g. the user's training items). Returns [B] int.
    """
    scores = np.asarray(scores, dtype=np.float64)
    scores = np.where(np.isnan(scores), -np.inf, scores)
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets]
    at_least = scores >= target_scores[:, None]
    if excluded is not None:
        at_least &= ~excluded
    at_least[rows, targets] = False
    return at_least.sum(axis=1)


def ndcg_gains(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user NDCG@k with one relevant item, [B] in [0, 1]: 1/log2(rank+2) if rank < k else 0."""
    ranks = np.asarray(ranks)
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def hits(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user hit@k, [B] in {0, 1}."""
    return (np.asarray(ranks) < k).astype(np.float64)


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@k over users (nan for no user)."""
    return float(ndcg_gains(ranks, k).mean()) if len(ranks) else float("nan")


def hit_rate_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of users whose target ranks in the top k (nan for no user)."""
    return float(hits(ranks, k).mean()) if len(ranks) else float("nan")
