"""Settings derived from the data when the run config leaves them at 0, the same at the site and the coordinator."""

import pytest
import torch

from recmodel.data.federated import load_federated_data, model_spec_for
from recmodel.model.bundle import Recommender
from recmodel.training.data_defaults import explain_choices, local_epochs_for, negatives_for
from recmodel.training.private_round import run_private_round
from server.planned_counts import planned_training_counts
from simulations.defaults import default_run_config
from tests.conftest import TINY


def test_local_epochs_follow_the_site_size_without_dp_and_stay_at_two_under_dp():
    plain = default_run_config(dp=False, local_epochs=0, batch_size=256)
    assert [local_epochs_for(plain, users) for users in (122, 850, 5_000, 50_000)] == [8, 8, 2, 2]
    assert local_epochs_for(plain.replace(dp=True), 122) == 2
    assert local_epochs_for(plain.replace(local_epochs=3), 122) == 3  # a value set in the run config wins


def test_negatives_follow_the_catalogue():
    config = default_run_config(negatives_per_positive=0)
    assert [negatives_for(config, items) for items in (60, 1_000, 3_659, 9_724, 100_000)] == [4, 4, 12, 32, 32]
    assert negatives_for(config.replace(negatives_per_positive=7), 9_724) == 7


def test_the_site_trains_the_steps_the_coordinator_plans_for_its_declared_population(tmp_path):
    config = default_run_config(**{**TINY, "dp": False, "local_epochs": 0, "negatives_per_positive": 0})
    data = load_federated_data(config, num_partitions=1)
    users = data.site_users(0)
    torch.manual_seed(0)
    outcome = run_private_round(Recommender(model_spec_for(config, data)), data.catalogue, users, config,
                                state_dir=tmp_path, partner="p", run_id="r", server_round=1, max_epsilon=10.0,
                                population=len(users))
    assert outcome.steps == planned_training_counts(config, len(users))["steps"] > 2 * 4  # more than 2 epochs
    line = explain_choices(config, examples=len(users), catalogue_items=len(data.catalogue))
    assert line.startswith(f"local-epochs {local_epochs_for(config, len(users))} (")
    assert "negatives-per-positive 4" in line


def test_small_sites_spend_half_the_budget_on_the_item_counts_and_large_ones_keep_the_default(tmp_path):
    from recmodel.privacy.accounting import epsilon_of
    from recmodel.training.release_plan import (DEFAULT_POPULARITY_NOISE, POPULARITY, plan_releases, run_sizes,
                                                whole_run)

    config = default_run_config(popularity_noise_multiplier=0.0, popularity_prior=True, target_epsilon=8.0)
    small = plan_releases(config, run_sizes(config, dlrm_examples=122, profile_examples=122), tmp_path / "s",
                          "r", evaluations=6)
    alone = epsilon_of(small[POPULARITY].as_history(), delta=config.target_delta, accountant=config.accountant)
    assert alone == pytest.approx(4.0, abs=0.02)  # half of the target on the counts alone
    everything = [step for plan in whole_run(config, small, evaluations=6) for step in plan.as_history()]
    assert epsilon_of(everything, delta=config.target_delta, accountant=config.accountant) <= 8.0 + 1e-6
    large = plan_releases(config, run_sizes(config, dlrm_examples=5_000, profile_examples=5_000), tmp_path / "l",
                          "r", evaluations=6)
    assert large[POPULARITY].noise_multiplier == DEFAULT_POPULARITY_NOISE
    fixed = config.replace(popularity_noise_multiplier=3.0)  # a value in the run config wins
    assert plan_releases(fixed, run_sizes(fixed, dlrm_examples=122, profile_examples=122), tmp_path / "f", "r",
                         evaluations=6)[POPULARITY].noise_multiplier == 3.0
