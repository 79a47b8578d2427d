import pytest

from recmodel.config import ConfigError
from simulations.defaults import app_config_values, default_run_config


def test_defaults_parse_and_keep_the_documented_privacy_settings():
    config = default_run_config()
    assert config.dp is True
    assert 0 < config.target_epsilon <= 8
    assert config.privacy_unit == "user"
    assert config.strategy == "fedavg"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"target_epsilon": -1.0}, "target-epsilon must be a positive number"),
        ({"strategy": "fedsgd"}, "strategy = 'fedsgd' is not supported; allowed values: fedavg, fedprox, fedadam"),
        ({"privacy_unit": "session"}, "privacy-unit = 'session' is not supported; allowed values: user, event"),
        ({"dataset": "/nonexistent/events.parquet"}, "dataset: file '/nonexistent/events.parquet' does not exist"),
        ({"target_delta": 1.5}, "target-delta must be in (0, 1)"),
        ({"batch_size": 0}, "batch-size must be an integer >= 1"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(override, expected):
    with pytest.raises(ConfigError) as error:
        default_run_config(**override)
    assert expected in str(error.value)


def test_wrong_type_is_reported_with_the_key():
    values = app_config_values()
    values["num-server-rounds"] = "many"
    from recmodel.config import RunConfig

    with pytest.raises(ConfigError, match="num-server-rounds must be of type int"):
        RunConfig.from_mapping(values)


def test_missing_key_is_reported():
    values = app_config_values()
    del values["seed"]
    from recmodel.config import RunConfig

    with pytest.raises(ConfigError, match="missing key 'seed'"):
        RunConfig.from_mapping(values)


def test_central_dp_needs_fedavg_aggregation():
    with pytest.raises(ConfigError, match="central-dp = true needs strategy 'fedavg' or 'fedprox'"):
        default_run_config(central_dp=True, strategy="fedadam")


def test_per_partner_caps_are_parsed_and_checked():
    assert default_run_config(max_epsilon_overrides="partner-0=3, partner-1=5.5").epsilon_caps() == {
        "partner-0": 3.0, "partner-1": 5.5}
    with pytest.raises(ConfigError, match="max-epsilon-overrides: cannot read 'partner-0:3'"):
        default_run_config(max_epsilon_overrides="partner-0:3")
