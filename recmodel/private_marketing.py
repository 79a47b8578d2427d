"""A site's marketing figures for one model, per activity segment, as one DP release (asked once per run).

Per user and K in ``metrics-k``: recall@K and MAP@K (in [0, 1]) and novelty@K in bits against the site's own
training popularity, clipped at ``NOVELTY_CAP_BITS`` and divided by it so that it too lies in [0, 1]. The
columns are summed per activity segment (``recmodel.metrics.activity_segments``: public edges) with one user
count per segment and Gaussian-noised as one release (``release_privately``), planned into the run's budget
as one more evaluation. Precision@K is recall@K / K (post-processing). Catalogue coverage is not a sum over
users and is not released: a site's lists stay at the site.
"""

from __future__ import annotations

import numpy as np

from recmodel.config import RunConfig
from recmodel.data.interactions import Catalogue, Users
from recmodel.evaluation import ranks_and_lists
from recmodel.metrics.activity_segments import SEGMENT_NAMES, activity_segments
from recmodel.metrics.marketing import per_user_marketing
from recmodel.model.bundle import Recommender
from recmodel.private_evaluation import PrivateAnswer, release_privately
from recmodel.privacy.noised_release import NoisedSums

NOVELTY_CAP_BITS = 32.0  # -log2 of an item's share: above 32 bits only with more than 4e9 interactions
MARKETING_PHASE = "marketing"  # the evaluate message's phase; a site answers it for server-round 0 only


def per_user_marketing_columns(model: Recommender, catalogue: Catalogue, users: Users,
                               config: RunConfig) -> dict[str, np.ndarray]:
    """``{"recall@K", "map@K", "novelty@K"}`` [U] in [0, 1] (novelty divided by ``NOVELTY_CAP_BITS``) of the
    bundle's top-K lists on the site's test users, for every K of ``metrics-k``."""
    ks = config.metric_ks()
    ranks = ranks_and_lists(model, catalogue, users, config)
    columns = per_user_marketing(ranks["test"], ranks["top"], catalogue.popularity, ks)
    for k in ks:
        columns[f"novelty@{k}"] = np.clip(columns[f"novelty@{k}"] / NOVELTY_CAP_BITS, 0.0, 1.0)
    return columns


def exact_segment_sums(columns: dict[str, np.ndarray], segments: np.ndarray) -> list[NoisedSums]:
    """Without DP (a simulated site mirroring ``dp=false``): per segment the exact sums and count (no noise)."""
    return [NoisedSums({name: float(values[segments == s].sum()) for name, values in columns.items()},
                       float((segments == s).sum()), 0.0, 0.0) for s in range(len(SEGMENT_NAMES))]


def release_marketing_privately(model: Recommender, catalogue: Catalogue, users: Users, config: RunConfig, *,
                                state_dir, partner: str, run_id: str, max_epsilon: float, evaluations: int,
                                population: int | None = None) -> PrivateAnswer:
    """The noised per-segment sums of ``per_user_marketing_columns``, one ledgered evaluation release."""
    return release_privately(per_user_marketing_columns(model, catalogue, users, config), config,
                             state_dir=state_dir, partner=partner, run_id=run_id, server_round=0,
                             max_epsilon=max_epsilon, evaluations=evaluations, users=users, population=population,
                             segments=activity_segments(users), segment_count=len(SEGMENT_NAMES))
