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
        ({"target_epsilon": -1.0}, "target-epsilon = -1.0 is not usable as an epsilon; allowed: a finite number in [0.01, 100]"),
        ({"target_epsilon": float("inf")}, "target-epsilon = inf is not usable as an epsilon"),
        ({"target_epsilon": 1e6}, "target-epsilon = 1000000.0 is not usable as an epsilon"),
        ({"target_epsilon": 1e-9}, "target-epsilon = 1e-09 is not usable as an epsilon"),
        ({"max_epsilon": float("inf")}, "max-epsilon = inf is not usable as an epsilon"),
        ({"max_grad_norm": float("inf")}, "max-grad-norm = inf is not usable as a clipping norm"),
        ({"learning_rate": float("inf")}, "learning-rate = inf is not usable as a learning rate"),
        ({"server_learning_rate": 0.0}, "server-learning-rate = 0.0 is not usable as a learning rate"),
        ({"evaluation_noise_multiplier": 0.0}, "evaluation-noise-multiplier = 0.0 is not usable as a noise multiplier"),
        ({"central_noise_multiplier": float("inf")}, "central-noise-multiplier = inf is not usable"),
        ({"momentum": 1.0}, "momentum = 1.0 is not usable as a momentum; allowed: a finite number in [0, 1)"),
        ({"run_name": "../../x"}, "run-name = '../../x' is not a plain name"),
        ({"run_name": "/tmp/abs"}, "run-name = '/tmp/abs' is not a plain name"),
        ({"strategy": "fedsgd"}, "strategy = 'fedsgd' is not supported; allowed values: fedavg, fedprox, fedadam"),
        ({"privacy_unit": "session"}, "privacy-unit = 'session' is not supported; allowed values: user, event"),
        ({"dataset": "/nonexistent/events.parquet"}, "dataset: file '/nonexistent/events.parquet' does not exist"),
        ({"target_delta": 1.5}, "target-delta = 1.5 is not usable as a probability; allowed: a finite number in (0, 1)"),
        ({"batch_size": 0}, "batch-size must be an integer >= 1"),
        ({"num_server_rounds": 1_000_000}, "num-server-rounds = 1000000 is above its limit 10,000"),
        ({"item_buckets": 10**8}, "item-buckets = 100000000 is above its limit 50,000,000"),
        ({"embedding_dim": 100_000}, "embedding-dim = 100000 is above its limit 1,024"),
        ({"popularity_noise_multiplier": 1e-12},
         "popularity-noise-multiplier = 1e-12 is not usable as a noise multiplier; allowed: a finite number in [0.1,"),
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


@pytest.mark.parametrize(("key", "value"), [("num-server-rounds", True), ("dp", "yes"), ("dp", 1),
                                            ("proximal-mu", float("nan")), ("central-noise-multiplier", "nan")])
def test_booleans_are_only_booleans_and_numbers_never_nan(key, value):
    from recmodel.config import RunConfig

    values = app_config_values()
    values[key] = value
    with pytest.raises(ConfigError, match=f"{key} must be of type"):
        RunConfig.from_mapping(values)


def test_calibration_that_cannot_reach_the_target_stops_with_a_reason():
    from recmodel.privacy.accounting import calibrate_noise_multiplier

    with pytest.raises(ValueError, match="cannot reach target-epsilon 0.01 at delta 1e-05: even noise multiplier"):
        calibrate_noise_multiplier(target_epsilon=0.01, delta=1e-5, sample_rate=1.0, steps=20_000, accountant="rdp")


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
