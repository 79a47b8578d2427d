"""Shared fixtures: a tiny synthetic federation that trains in seconds."""

from __future__ import annotations

import os

import pytest
from flwr.supercore.task_identity import TaskIdentity

from recmodel.data.federated import load_federated_data, model_spec_for
from recmodel.privacy import calibration_cache
from simulations.defaults import default_run_config

TINY = dict(synthetic_users=120, synthetic_items=60, synthetic_categories=6, batch_size=16,
            item_buckets=128, embedding_dim=8, num_server_rounds=2, local_epochs=1, profiles=False,
            popularity_prior=False)  # DP-SGD rounds alone; tests of the prior switch it on


@pytest.fixture(scope="session", autouse=True)
def calibration_cache_of_this_session(tmp_path_factory):
    """Calibrated noise multipliers (``recmodel.privacy.calibration_cache``) are remembered in one file shared by
    this session's workers and the Flower processes its tests start, never in the user's ~/.cache."""
    base = tmp_path_factory.getbasetemp()
    folder = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    os.environ[calibration_cache.ENV_VAR] = str(folder / "calibrations.json")
    yield


@pytest.fixture
def tiny_config():
    return default_run_config(**TINY)


@pytest.fixture
def tiny_data(tiny_config):
    return load_federated_data(tiny_config, num_partitions=2)


@pytest.fixture
def tiny_spec(tiny_config, tiny_data):
    return model_spec_for(tiny_config, tiny_data)


@pytest.fixture
def flower_node_identity():
    """The identity the Flower runtime sets in a SuperNode's process before it builds Messages (tests that call
    the ClientApp's handlers directly, as the simulation engine does, use it)."""
    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 7
    yield
    TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved



SLOW_FOLDERS = ("e2e", "deploy", "faults")  # real `flwr run`s, loopback deployments, fault injection


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a real Flower run or deployment (deselect with -m 'not slow')")


def pytest_collection_modifyitems(config, items):
    """Mark every test under tests/e2e and tests/deploy, and every test using a Flower home, as slow."""
    for item in items:
        parts = item.path.relative_to(config.rootpath / "tests").parts
        if parts[0] in SLOW_FOLDERS or "flwr_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
