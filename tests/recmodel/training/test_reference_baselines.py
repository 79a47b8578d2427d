"""Centralised and local-only references: the run's model trained without privacy, pooled and per partner."""

import numpy as np
import pytest

from recmodel.data.federated import load_federated_data, model_spec_for
from recmodel.training.reference_baselines import reference_baselines
from simulations.defaults import default_run_config
from tests.conftest import TINY


def test_references_train_the_runs_model_pooled_and_per_partner():
    config = default_run_config(**{**TINY, "synthetic_users": 200, "dp": True, "popularity_prior": True})
    data = load_federated_data(config, num_partitions=2)
    lines = []
    result = reference_baselines(model_spec_for(config, data), data.catalogue, data.users, list(data.partitions),
                                 ["a", "b"], config, progress=lines.append)
    central, local = result["centralised"], result["local_only"]
    assert central["users"] == len(data.users) and 0 < central["ndcg@10"] <= 1
    assert set(local["sites"]) == {"a", "b"}
    assert [s["users"] for s in local["sites"].values()] == [len(p) for p in data.partitions]
    weights = np.array([s["users"] for s in local["sites"].values()])
    assert local["ndcg@10"] == pytest.approx(np.average([s["ndcg@10"] for s in local["sites"].values()],
                                                        weights=weights))
    assert len(lines) == 2 and lines[0].startswith("centralised non-private reference")
    # Trained, not the initial model: the pooled reference beats chance on 60 items (random NDCG@10 ~ 0.09).
    assert central["ndcg@10"] > 0.12
