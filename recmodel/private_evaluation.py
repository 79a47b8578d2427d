"""What a site answers when asked to evaluate: DP-noised ranking sums, accounted in its ledger.

The coordinator may send any weights and ask any number of times, so every
answer is a DP release: per user NDCG@K and hit@K (each in [0, 1]) and 1 for
the count are summed and Gaussian-noised (``noised_release``), with the noise
multiplier ``evaluation-noise-multiplier`` planned into the run's budget, and
the release is checked against the cap and written to the ledger before the
figures leave. The coordinator divides noised sums by the noised count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recmodel.config import RunConfig
from recmodel.data.interactions import Catalogue, Users
from recmodel.evaluation import model_ranks
from recmodel.metrics.ranking import hits, ndcg_gains
from recmodel.model.bundle import Recommender, site_profiles
from recmodel.privacy.budget import check_budget
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.privacy.noised_release import (GAUSSIAN, GAUSSIAN_SUMS, NoisedSums, pooled,
                                             release_noised_segment_sums)
from recmodel.training.release_plan import EVALUATION, plan_site_releases, record_release


@dataclass(frozen=True)
class PrivateAnswer:
    released: NoisedSums  # all users (the pooled segments when the release has several)
    epsilon: float  # cumulative over the site's ledger after this release
    signed_head: dict
    segments: tuple[NoisedSums, ...] = ()  # per segment, when the release was asked per segment


def per_user_ranking(model: Recommender, catalogue: Catalogue, users: Users, config: RunConfig,
                     profiles: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """{"ndcg": [U], "hr": [U]} of the bundle's DLRM at top-k, each in [0, 1]."""
    if profiles is None:
        profiles = site_profiles(model, catalogue, users, config)
    ranks = model_ranks(model, catalogue, users, config, profiles)["test"]
    return {"ndcg": ndcg_gains(ranks, config.top_k), "hr": hits(ranks, config.top_k)}


def release_privately(per_user: dict[str, np.ndarray], config: RunConfig, *, state_dir: Path, partner: str,
                      run_id: str, server_round: int, max_epsilon: float, evaluations: int,
                      users: Users, population: int | None = None, segments: np.ndarray | None = None,
                      segment_count: int = 1) -> PrivateAnswer:
    """Noise ``per_user`` sums as one planned, budget-checked, ledgered release (``BudgetExhausted`` if over cap).

    With ``segments`` ([U] public segment labels in 0..segment_count-1) the sums are released per segment, still
    one Gaussian mechanism of the same sensitivity (``release_noised_segment_sums``)."""
    ledger = PrivacyLedger.at_site(state_dir)
    with ledger.reserved():
        plan = plan_site_releases(config, users, state_dir, run_id, evaluations=max(1, evaluations),
                                  population=population)[EVALUATION]
        check_budget(ledger.history(), [plan], delta=config.target_delta, accountant=config.accountant,
                     cap=max_epsilon, partner=partner)
        labels = np.zeros(len(users), dtype=np.int64) if segments is None else segments
        parts = release_noised_segment_sums(per_user, labels, segment_count, noise_multiplier=plan.noise_multiplier)
        released = pooled(parts)
        entry = record_release(ledger, plan, plan.as_history(), EVALUATION, config, run_id=run_id,
                               server_round=server_round, partner=partner, max_epsilon=max_epsilon,
                               population=len(users) if population is None else population,
                               l2_bound=released.sensitivity, mechanism=GAUSSIAN,
                               engine=GAUSSIAN_SUMS)
    return PrivateAnswer(released, float(entry["epsilon"]), ledger.signed_head(partner),
                         tuple(parts) if segments is not None else ())


def evaluate_privately(model: Recommender, catalogue: Catalogue, users: Users, config: RunConfig, *,
                       state_dir: Path, partner: str, run_id: str, server_round: int, max_epsilon: float,
                       evaluations: int, population: int | None = None) -> PrivateAnswer:
    """Noised NDCG@K / HR@K sums and user count of the global model on the site's test users."""
    return release_privately(per_user_ranking(model, catalogue, users, config), config, state_dir=state_dir,
                             partner=partner, run_id=run_id, server_round=server_round, max_epsilon=max_epsilon,
                             evaluations=evaluations, users=users, population=population)
