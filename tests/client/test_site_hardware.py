"""A SuperNode's own device setting wins over the run config's; a bad one is refused by name."""

import pytest

from client.site import on_site_hardware
from recmodel.config import ConfigError
from simulations.defaults import default_run_config


def test_the_node_config_device_overrides_the_run_config():
    config = default_run_config()
    assert config.device == "auto"
    assert on_site_hardware(config, {"device": "cpu"}).device == "cpu"
    assert on_site_hardware(config, {"partition-id": 0}) is config


def test_an_unknown_node_device_is_a_config_error():
    with pytest.raises(ConfigError, match="device"):
        on_site_hardware(default_run_config(), {"device": "gpu0"})
