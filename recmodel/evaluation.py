"""Evaluate a DLRM (with its profile model) or the popularity baseline by full ranking over the catalogue."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from recmodel.config import RunConfig
from recmodel.data.examples import candidates_batch
from recmodel.device import on_device, resolve_device
from recmodel.data.interactions import Catalogue, Users
from recmodel.metrics.activity_segments import SEGMENT_NAMES, activity_segments
from recmodel.metrics.marketing import marketing_metrics, top_k_items
from recmodel.metrics.ranking import hit_rate_at_k, ndcg_at_k, target_ranks
from recmodel.model.bundle import Recommender, site_profiles
from recmodel.model.dlrm import DLRM
from recmodel.model.shared_candidates import score_shared_candidates
from recmodel.profile_evaluation import evaluate_profiles

PAIRS_PER_FORWARD = 32_768  # users x items scored in one forward pass

SEGMENTS_KEY = "segments"  # evaluate_bundle's figures by activity segment: kept apart from the round table
VALIDATION_KEY = "valid-ndcg@{k}"  # NDCG@k of the validation items: what model selection reads, never the test
Scorer = Callable[[np.ndarray], np.ndarray]  # user rows [B] -> scores [B, N]


def model_scorer(model: DLRM, catalogue: Catalogue, users: Users, history_length: int,
                 profiles: np.ndarray | None = None, device: torch.device = torch.device("cpu")) -> Scorer:
    """Scores of every catalogue item for a block of users, [B, N] float32.

    ``model`` must sit on ``device`` while the scorer is used (``recmodel.device.on_device``).
    """
    all_items = np.arange(len(catalogue))
    item_chunk = max(1, min(len(catalogue), PAIRS_PER_FORWARD))

    @torch.no_grad()
    def score(rows: np.ndarray) -> np.ndarray:
        model.eval()
        parts = []
        for start in range(0, len(catalogue), item_chunk):
            batch = candidates_batch(catalogue, users, rows, all_items[start : start + item_chunk], history_length,
                                     profiles)
            parts.append(score_shared_candidates(model, batch.to(device)).cpu().numpy())
        return np.concatenate(parts, axis=1)

    return score


def popularity_scorer(popularity: np.ndarray) -> Scorer:
    """Every user gets the item popularity counts [N] as scores."""

    def score(rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(popularity, (len(rows), len(popularity)))

    return score


def target_ranks_of(scorer: Scorer, catalogue: Catalogue, users: Users, *, target: str = "test") -> np.ndarray:
    """0-based rank [U] of each user's held-out item among all items but the user's train items."""
    return target_ranks_by(scorer, catalogue, users, targets=(target,))[target]


def target_ranks_by(scorer: Scorer, catalogue: Catalogue, users: Users, *,
                    targets: tuple[str, ...], top_k: int = 0) -> dict[str, np.ndarray]:
    """{target: 0-based rank [U]} for ``"test"`` and/or ``"valid"`` items, from one scoring pass over the users;
    with ``top_k`` > 0 also ``"top"``: each user's ``top_k`` best items [U, top_k] (train items excluded)."""
    held_out = {"test": users.test_item, "valid": users.valid_item}
    users_per_block = max(1, PAIRS_PER_FORWARD // max(1, len(catalogue)))
    ranks = {target: [] for target in (*targets, *(("top",) if top_k else ()))}
    for start in range(0, len(users), users_per_block):
        rows = np.arange(start, min(len(users), start + users_per_block))
        scores = scorer(rows)
        excluded = np.zeros(scores.shape, dtype=bool)
        for i, u in enumerate(rows):
            excluded[i, users.train_items_of(u)] = True
        for target in targets:
            ranks[target].append(target_ranks(scores, held_out[target][rows], excluded))
        if top_k:
            ranks["top"].append(top_k_items(scores, excluded, top_k))
    return {target: np.concatenate(parts) if parts else np.zeros((0, top_k) if target == "top" else 0, dtype=np.int64)
            for target, parts in ranks.items()}


def evaluate_ranking(scorer: Scorer, catalogue: Catalogue, users: Users, *, k: int, target: str = "test",
                     ks: tuple[int, ...] = ()) -> dict:
    """NDCG@k and HR@k over users, excluding each user's train items; with ``ks`` also the marketing figures
    (``recmodel.metrics.marketing``) at each K.

    Returns ``{"ndcg@k": float, "hr@k": float, "users": int, ...}``.
    """
    ranks = target_ranks_by(scorer, catalogue, users, targets=(target,), top_k=max(ks, default=0))
    result = ranking_metrics(ranks[target], k)
    if ks:
        result.update(marketing_metrics(ranks[target], ranks["top"], catalogue.popularity, ks))
    return result


def ranking_metrics(ranks: np.ndarray, k: int) -> dict:
    """``{"ndcg@k", "hr@k", "users"}`` of 0-based target ranks [U]."""
    return {f"ndcg@{k}": ndcg_at_k(ranks, k), f"hr@{k}": hit_rate_at_k(ranks, k), "users": int(len(ranks))}


def model_ranks(model: Recommender, catalogue: Catalogue, users: Users, config: RunConfig,
                profiles: np.ndarray | None, targets: tuple[str, ...] = ("test",), top_k: int = 0) -> dict[str, np.ndarray]:
    """{target: 0-based rank [U]} of each user's ``targets`` items under the bundle's DLRM, on ``config.device``
    (and ``"top"`` [U, top_k] lists with ``top_k``)."""
    device = resolve_device(config.device)
    with on_device(model.dlrm, device):
        scorer = model_scorer(model.dlrm, catalogue, users, config.history_length, profiles, device)
        return target_ranks_by(scorer, catalogue, users, targets=targets, top_k=top_k)


def ranking_quality(model: Recommender, catalogue: Catalogue, users: Users, config: RunConfig,
                    profiles: np.ndarray | None, *, validation: bool = False, segments: bool = False) -> dict:
    """NDCG/HR@top-k of the bundle's DLRM on the users' test items, given their profile embeddings.

    ``validation``: also ``valid-ndcg@k``, NDCG@k of the validation items (each user's second-to-last item),
    from the same scores. ``segments`` (with ``metrics-k``): also ``SEGMENTS_KEY``, the ``figures_by_segment``
    of the same lists.
    """
    k, ks = config.top_k, config.metric_ks()
    ranks = model_ranks(model, catalogue, users, config, profiles, ("test", "valid") if validation else ("test",),
                        top_k=max(ks, default=0))
    result = ranking_metrics(ranks["test"], k)
    if ks:
        result.update(marketing_metrics(ranks["test"], ranks["top"], catalogue.popularity, ks))
        if segments:
            result[SEGMENTS_KEY] = figures_by_segment(ranks["test"], ranks["top"], catalogue, users, config)
    if validation:
        result[VALIDATION_KEY.format(k=k)] = ranking_metrics(ranks["valid"], k)[f"ndcg@{k}"]
    return result


def ranks_and_lists(model: Recommender, catalogue: Catalogue, users: Users, config: RunConfig) -> dict:
    """{"test": ranks [U], "top": top-max(metrics-k) lists [U, K]} of the bundle's DLRM, with its profiles."""
    return model_ranks(model, catalogue, users, config, site_profiles(model, catalogue, users, config),
                       top_k=max(config.metric_ks()))


def marketing_by_segment(model: Recommender, catalogue: Catalogue, users: Users, config: RunConfig) -> dict:
    """``figures_by_segment`` of the bundle's DLRM on the users' test items; exact, simulation only."""
    ranks = ranks_and_lists(model, catalogue, users, config)
    return figures_by_segment(ranks["test"], ranks["top"], catalogue, users, config)


def figures_by_segment(test_ranks: np.ndarray, top_items: np.ndarray, catalogue: Catalogue, users: Users,
                       config: RunConfig) -> dict:
    """{"all": figures, "segments": {activity segment: figures}} from test ranks [U] and top lists [U, K_max],
    the figures being NDCG/HR@top-k, ``users`` and the marketing figures at each K of ``metrics-k``
    (``recmodel.metrics.activity_segments``)."""
    ks, labels = config.metric_ks(), activity_segments(users)

    def figures(rows: np.ndarray) -> dict:
        return {**ranking_metrics(test_ranks[rows], config.top_k),
                **marketing_metrics(test_ranks[rows], top_items[rows], catalogue.popularity, ks)}

    return {"all": figures(np.ones(len(users), dtype=bool)),
            "segments": {name: figures(labels == s) for s, name in enumerate(SEGMENT_NAMES)}}


def evaluate_bundle(model: Recommender, catalogue: Catalogue, users: Users, config: RunConfig) -> dict:
    """Ranking metrics (with ``valid-ndcg@k`` and, with ``metrics-k``, ``SEGMENTS_KEY``) plus, when the bundle has
    a profile model, its held-out-user metrics."""
    result = ranking_quality(model, catalogue, users, config, site_profiles(model, catalogue, users, config),
                             validation=True, segments=True)
    if model.profile is not None:
        result.update(evaluate_profiles(model.profile, catalogue, users, category_buckets=config.category_buckets,
                                        attribute_buckets=config.attribute_buckets,
                                        reference_time=config.reference_time))
    return result
