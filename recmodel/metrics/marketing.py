"""The figures marketing dashboards show, for one held-out item per user, at several K.

For U users with target ranks ``ranks`` [U] (0-based, train items excluded) and their top-K lists
``top_items`` [U, K_max] (catalogue positions, best first, train items excluded):

- ``precision@K``: hits / K, averaged over users (one relevant item: at most 1/K);
- ``recall@K``: share of users whose held-out item is in their top K (equals HR@K with one held-out item);
- ``map@K``: mean average precision; with one relevant item, 1 / (rank + 1) when it ranks within K, else 0;
- ``coverage@K``: share of the catalogue's items that appear in at least one user's top K;
- ``novelty@K``: mean self-information, -log2 of an item's share of all training interactions (add-one
  smoothed), over every recommended item: higher means less obvious items.
"""

from __future__ import annotations

import numpy as np

DEFAULT_KS = (5, 10, 20)


def marketing_metrics(ranks: np.ndarray, top_items: np.ndarray, popularity: np.ndarray, ks) -> dict:
    """``{"precision@K", "recall@K", "map@K", "coverage@K", "novelty@K"}`` for each K in ``ks``.

    ``popularity`` [N]: training interactions per catalogue item; ``top_items`` must hold at least max(ks) columns.
    """
    ranks, top_items = np.asarray(ranks), np.asarray(top_items)
    if top_items.ndim != 2 or (len(ranks) and top_items.shape[1] < max(ks)):
        raise ValueError(f"top_items {top_items.shape} needs max(ks) = {max(ks)} columns")
    share = (np.asarray(popularity, dtype=np.float64) + 1.0) / (np.sum(popularity) + len(popularity))
    information = -np.log2(share)
    result = {}
    for k in ks:
        hit = ranks < k
        lists = top_items[:, :k]
        result[f"precision@{k}"] = float(hit.mean() / k) if len(ranks) else float("nan")
        result[f"recall@{k}"] = float(hit.mean()) if len(ranks) else float("nan")
        result[f"map@{k}"] = float(np.where(hit, 1.0 / (ranks + 1.0), 0.0).mean()) if len(ranks) else float("nan")
        valid = lists[lists >= 0]
        result[f"coverage@{k}"] = float(len(np.unique(valid)) / len(popularity)) if len(popularity) else float("nan")
        result[f"novelty@{k}"] = float(information[valid].mean()) if len(valid) else float("nan")
    return result


def top_k_items(scores: np.ndarray, excluded: np.ndarray, k: int) -> np.ndarray:
    """[B, k] catalogue positions of each row's k best scores among non-excluded items, best first (-1 pads a
    row with fewer candidates)."""
    scores = np.where(excluded | np.isnan(scores), -np.inf, np.asarray(scores, dtype=np.float64))
    k_eff = min(k, scores.shape[1])
    top = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable"), 1)
    order = np.where(np.isfinite(np.take_along_axis(scores, order, 1)), order, -1)
    if k_eff < k:
        order = np.concatenate([order, np.full((len(order), k - k_eff), -1)], axis=1)
    return order
