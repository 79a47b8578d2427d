"""Shared fixtures: a tiny synthetic federation that trains in seconds."""

from __future__ import annotations

import pytest

from recmodel.data.federated import load_federated_data, model_spec_for
from simulations.defaults import default_run_config

TINY = dict(synthetic_users=120, synthetic_items=60, synthetic_categories=6, batch_size=16,
            item_buckets=128, embedding_dim=8, num_server_rounds=2, local_epochs=1, profiles=False,
            popularity_prior=False)  # DP-SGD rounds alone; tests of the prior switch it on


@pytest.fixture
def tiny_config():
    return default_run_config(**TINY)


@pytest.fixture
def tiny_data(tiny_config):
    return load_federated_data(tiny_config, num_partitions=2)


@pytest.fixture
def tiny_spec(tiny_config, tiny_data):
    return model_spec_for(tiny_config, tiny_data)



# Whole federations, longest first (measured on 2 cores: 300, 255, 240 + 160, then 50-95 s each).
SLOW_FIRST = ("tests/deploy/test_faults.py", "tests/deploy/test_local_federation.py", "tests/e2e/test_resume.py",
              "tests/e2e/")


def pytest_collection_modifyitems(config, items):
    """Longest tests first. With ``--dist load --maxschedchunk 2`` (pyproject) each xdist worker takes the next
    test as it frees up, so the two workers share the federations and fill in with the short tests, instead of
    one worker running a 5-minute federation alone at the end."""
    def rank(item) -> int:
        return next((i for i, prefix in enumerate(SLOW_FIRST) if item.nodeid.startswith(prefix)), len(SLOW_FIRST))
    items.sort(key=rank)
