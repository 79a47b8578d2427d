"""The figures marketing dashboards show, for one held-out item per user, at several K.

For U users with target ranks ``ranks`` [U] (0-based, train items excluded) and their top-K lists
``top_items`` [U, K_max] (catalogue positions, best first, train items excluded, -1 pads a short list):

- ``precision@K``: hits / K, averaged over users (one relevant item: at most 1/K);
- ``recall@K``: share of users whose held-out item is in their top K (equals HR@K with one held-out item);
- ``map@K``: mean average precision; with one relevant item, 1 / (rank + 1) when it ranks within K, else 0;
- ``coverage@K``: share of the catalogue's items that appear in at least one user's top K;
- ``novelty@K``: self-information of a recommended item, -log2 of its share of all training interactions
  (add-one smoothed), in bits, averaged over each user's list, then over users: higher means less obvious items.

Every figure but coverage is a mean of per-user values (``per_user_marketing``), which is what lets a site
release them as noised sums (``recmodel.private_marketing``); coverage is a property of all lists together.
"""

from __future__ import annotations

import numpy as np

DEFAULT_KS = (5, 10, 20)
PER_USER_FIGURES = ("recall", "map", "novelty")  # precision@K is recall@K / K: never released separately


def item_information(popularity: np.ndarray) -> np.ndarray:
    """[N] bits: -log2 of each item's add-one smoothed share of the training interactions ``popularity`` [N]."""
    popularity = np.asarray(popularity, dtype=np.float64)
    return -np.log2((popularity + 1.0) / (np.sum(popularity) + len(popularity)))


def per_user_marketing(ranks: np.ndarray, top_items: np.ndarray, popularity: np.ndarray, ks) -> dict[str, np.ndarray]:
    """``{"recall@K", "map@K", "novelty@K"}``, each [U] float64, for every K in ``ks``.

    recall and map are in [0, 1]; novelty is in bits (0 for a user whose list is empty).
    """
    ranks, top_items = np.asarray(ranks), np.asarray(top_items)
    if top_items.ndim != 2 or (len(ranks) and top_items.shape[1] < max(ks)):
        raise ValueError(f"top_items {top_items.shape} needs max(ks) = {max(ks)} columns")
    information = item_information(popularity)
    columns = {}
    for k in ks:
        hit = ranks < k
        lists = top_items[:, :k]
        valid = lists >= 0
        listed = np.where(valid, information[np.where(valid, lists, 0)], 0.0).sum(1)
        columns[f"recall@{k}"] = hit.astype(np.float64)
        columns[f"map@{k}"] = np.where(hit, 1.0 / (ranks + 1.0), 0.0)
        columns[f"novelty@{k}"] = listed / np.maximum(valid.sum(1), 1)
    return columns


def means_with_precision(sums: dict[str, float], count: float, ks) -> dict[str, float]:
    """Means (sum / count; nan below one user) of ``per_user_marketing`` columns, with precision@K added."""
    result = {name: (value / count if count >= 1 else float("nan")) for name, value in sums.items()}
    for k in ks:
        if f"recall@{k}" in result:
            result[f"precision@{k}"] = result[f"recall@{k}"] / k
    return result


def marketing_metrics(ranks: np.ndarray, top_items: np.ndarray, popularity: np.ndarray, ks) -> dict:
    """``{"precision@K", "recall@K", "map@K", "coverage@K", "novelty@K"}`` for each K in ``ks``.

    ``popularity`` [N]: training interactions per catalogue item; ``top_items`` must hold at least max(ks) columns.
    """
    columns = per_user_marketing(ranks, top_items, popularity, ks)
    result = means_with_precision({name: float(values.sum()) for name, values in columns.items()}, len(ranks), ks)
    top_items = np.asarray(top_items)
    for k in ks:
        lists = top_items[:, :k]
        valid = lists[lists >= 0]
        result[f"coverage@{k}"] = float(len(np.unique(valid)) / len(popularity)) if len(popularity) else float("nan")
    return {name: result[name] for k in ks for name in
            (f"precision@{k}", f"recall@{k}", f"map@{k}", f"coverage@{k}", f"novelty@{k}")}


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
