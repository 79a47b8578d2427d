"""Settings derived from the data when the run config leaves them at 0, the same at the site and the coordinator."""

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
    assert line.startswith(f"local-epochs {local_epochs_for(config, len(users))} (") and "negatives-per-positive 4" in line
