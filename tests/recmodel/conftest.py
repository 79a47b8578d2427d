"""A run directory trained in the test (tiny, seconds) and a partner's events file, for the serving tests."""

import pytest
import torch

from recmodel.data.federated import load_federated_data, model_spec_for
from recmodel.data.synthetic import SyntheticSpec, generate_events
from recmodel.model.bundle import Recommender
from recmodel.training.private_round import run_private_round
from server.run_directory import RunDirectory
from simulations.defaults import default_run_config
from tests.conftest import TINY

USERS, ITEMS, CATEGORIES = 240, 60, 8


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A run directory with a profile + DLRM bundle trained for 3 local rounds, and a partner's events file."""
    folder = tmp_path_factory.mktemp("serve")
    config = default_run_config(**{**TINY, "synthetic_users": USERS, "synthetic_items": ITEMS,
                                   "synthetic_categories": CATEGORIES, "profiles": True, "dp": False,
                                   "profile_learning_rate": 0.1,
                                   "output_dir": str(folder), "run_name": "run"})
    data = load_federated_data(config, num_partitions=1)
    torch.manual_seed(0)
    model = Recommender(model_spec_for(config, data))
    for server_round in (1, 2, 3):
        run_private_round(model, data.catalogue, data.site_users(0), config, state_dir=folder / "state",
                          partner="p", run_id="r", server_round=server_round, max_epsilon=10.0)
    run = RunDirectory.create(config)
    run.save_model(model.state_dict(), model.spec, config, item_ids=data.catalogue.item_ids,
                   category_names=data.catalogue.category_names)
    events = generate_events(SyntheticSpec(users=USERS, items=ITEMS, categories=CATEGORIES, partners=1, seed=config.seed))
    events_file = folder / "partner-events.parquet"
    events.to_parquet(events_file, index=False)
    return run.path, events_file, events
