"""What a site answers when asked for its item popularity: DP-noised item counts, accounted in its ledger.

Asked once per run, before round 1. Under DP the release is planned into the
run's budget (``release_plan``), checked against the cap and written to the
ledger before the counts leave; without DP (a simulated site mirroring
``dp=false``) the exact counts go out. The coordinator sums the sites'
answers into the DLRM's item prior (``item_counts.prior_from_counts``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recmodel.config import RunConfig
from recmodel.data.interactions import Catalogue, Users
from recmodel.privacy.budget import check_budget
from recmodel.privacy.item_counts import L2_BOUND, item_count_sums, release_item_counts
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.privacy.noised_release import GAUSSIAN, GAUSSIAN_SUMS
from recmodel.training.release_plan import POPULARITY, plan_site_releases, record_release


@dataclass(frozen=True)
class PopularityAnswer:
    counts: np.ndarray  # [item_buckets] float64, noised under DP
    noise_std: float  # per row; 0 without DP
    epsilon: float  # cumulative over the site's ledger after this release; inf without DP
    signed_head: dict | None  # None without DP


def answer_popularity(catalogue: Catalogue, users: Users, config: RunConfig, *, state_dir: Path, partner: str,
                      run_id: str, max_epsilon: float, evaluations: int,
                      population: int | None = None) -> PopularityAnswer:
    """The site's item counts over item rows: noised, planned, cap-checked and ledgered under DP."""
    if not config.dp:
        return PopularityAnswer(item_count_sums(catalogue, users, recent=config.popularity_recent_items), 0.0,
                                float("inf"), None)
    ledger = PrivacyLedger.at_site(state_dir)
    with ledger.reserved():  # also checks the ledger is whole
        plan = plan_site_releases(config, users, state_dir, run_id, evaluations=evaluations,
                                  population=population)[POPULARITY]
        check_budget(ledger.history(), [plan], delta=config.target_delta, accountant=config.accountant,
                     cap=max_epsilon, partner=partner)
        counts = release_item_counts(catalogue, users, recent=config.popularity_recent_items,
                                     noise_multiplier=plan.noise_multiplier)
        entry = record_release(ledger, plan, plan.as_history(), POPULARITY, config, run_id=run_id, server_round=0,
                               partner=partner, max_epsilon=max_epsilon,
                               population=len(users) if population is None else population, l2_bound=L2_BOUND,
                               mechanism=GAUSSIAN, engine=GAUSSIAN_SUMS)
    return PopularityAnswer(counts, plan.noise_multiplier * L2_BOUND, float(entry["epsilon"]),
                            ledger.signed_head(partner))
