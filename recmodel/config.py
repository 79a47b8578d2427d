"""One typed view of the run configuration (``[tool.flwr.app.config]``).

The TOML table is the single source of default values; this module only names,
types and validates them. Validation runs before any training and raises
``ConfigError`` naming the key, the offending value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from recmodel.data.negative_sampling import NEGATIVE_SAMPLING

STRATEGIES = ("fedavg", "fedprox", "fedadam", "fedmedian", "fedtrimmedavg")  # the last two: robust to a rogue
PRIVACY_UNITS = ("user", "event")
ACCOUNTANTS = ("prv", "rdp")
LOSSES = ("softmax", "bce")
LOCAL_OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda")  # recmodel.device


MIN_EPSILON, MAX_EPSILON = 0.01, 100.0  # below: calibration needs absurd noise; above: no meaningful guarantee
MAX_LEARNING_RATE = 1e3
MAX_NORM = 1e6
MAX_NOISE = 1e6
MIN_RELEASE_NOISE = 0.1  # a Gaussian release (item counts, evaluation) below it spends epsilon > 90 alone
SIZE_LIMITS = {  # upper bounds checked before anything is allocated (a coordinator could send any value)
    "num_server_rounds": 10_000,  # the accountant composes every release of every round (1e6 rounds: > 20 GB)
    "local_epochs": 1_000, "profile_epochs": 1_000, "personalise_epochs": 1_000,
    "batch_size": 1_000_000, "min_partners": 10_000,
    "embedding_dim": 1_024, "profile_dim": 1_024,  # with item-buckets: two item tables of rows x dim floats
    "history_length": 1_000, "positives_per_user": 1_000, "negatives_per_positive": 10_000, "top_k": 1_000,
    "item_buckets": 50_000_000, "category_buckets": 1_000_000, "attribute_buckets": 1_000_000,
    "popularity_recent_items": 100_000,
    "synthetic_users": 10_000_000, "synthetic_items": 10_000_000, "synthetic_categories": 100_000,
}
MAX_REFERENCE_TIME = 1e11  # seconds since 1970: the year 5138
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ConfigError(ValueError):
    """A configuration key holds a value that cannot be used."""


@dataclass(frozen=True)
class RunConfig:
    """Every hyperparameter of a run; field ``foo_bar`` is TOML key ``foo-bar``."""

    num_server_rounds: int
    min_partners: int
    local_epochs: int
    learning_rate: float
    optimizer: str
    momentum: float
    sparse_table_rows: int
    sparse_learning_rate: float
    device: str
    batch_size: int
    embedding_dim: int
    profiles: bool
    profile_dim: int
    profile_epochs: int
    profile_learning_rate: float
    personalise: bool
    personalise_epochs: int
    item_buckets: int
    category_buckets: int
    attribute_buckets: int
    history_length: int
    positives_per_user: int
    negatives_per_positive: int
    negative_sampling: str
    loss: str
    popularity_prior: bool
    popularity_noise_multiplier: float
    popularity_recent_items: int
    dp: bool
    target_epsilon: float
    target_delta: float
    max_grad_norm: float
    max_epsilon: float
    max_epsilon_overrides: str
    evaluation_noise_multiplier: float
    site_policy: str
    privacy_unit: str
    accountant: str
    strategy: str
    central_dp: bool
    central_noise_multiplier: float
    central_clipping_norm: float
    proximal_mu: float
    server_learning_rate: float
    dataset: str
    catalogue: str
    synthetic_users: int
    synthetic_items: int
    synthetic_categories: int
    min_interactions: int
    reference_time: float
    user_attributes: str
    round_timeout: float
    max_update_norm: float
    resume_from: str
    central_evaluation: bool
    reference_baselines: bool
    keep_site_updates: bool
    top_k: int
    metrics_k: str
    verbose: bool
    output_dir: str
    run_name: str
    seed: int

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "RunConfig":
        """Build from a Flower ``run_config`` (hyphenated keys), then validate."""
        kwargs = {}
        for field in dataclasses.fields(cls):
            key = field.name.replace("_", "-")
            if key not in values:
                raise ConfigError(f"run config is missing key '{key}'")
            kwargs[field.name] = _coerce(key, values[key], field.type)
        config = cls(**kwargs)
        config.validate()
        return config

    def to_mapping(self) -> dict[str, Any]:
        """Hyphenated-key dict, as in ``[tool.flwr.app.config]``."""
        return {k.replace("_", "-"): v for k, v in dataclasses.asdict(self).items()}

    def replace(self, **changes: Any) -> "RunConfig":
        """A validated copy with some fields changed (python field names)."""
        config = dataclasses.replace(self, **changes)
        config.validate()
        return config

    def check_target_within_cap(self) -> None:
        """The coordinator's own check of a run config: a DP run spends its whole ``target-epsilon`` at every
        site, so a target above the requested ``max-epsilon`` could never finish (``ConfigError``)."""
        if self.dp and self.target_epsilon > self.max_epsilon:
            raise ConfigError(f"target-epsilon = {self.target_epsilon:g} is above max-epsilon = {self.max_epsilon:g}: "
                              "a run spends its whole target, so no partner could finish it; allowed: "
                              "target-epsilon <= max-epsilon")

    def epsilon_caps(self) -> dict[str, float]:
        """Per-partner caps from ``max-epsilon-overrides`` ("partner-0=3.0,partner-1=5")."""
        caps = {}
        for item in filter(None, (part.strip() for part in self.max_epsilon_overrides.split(","))):
            name, sep, value = item.partition("=")
            try:
                cap = float(value)
            except ValueError:
                cap = float("nan")
            if not sep or not name.strip() or not cap > 0:
                raise ConfigError(
                    f"max-epsilon-overrides: cannot read '{item}'; expected 'partner=epsilon' pairs "
                    "separated by commas, e.g. \"partner-0=3.0,partner-1=5\""
                )
            caps[name.strip()] = cap
        return caps

    def declared_attributes(self) -> tuple[str, ...]:
        """``user-attributes`` ("user_age,user_region") as a sorted tuple of the declared attribute columns."""
        names = tuple(sorted(name.strip() for name in self.user_attributes.split(",") if name.strip()))
        bad = [name for name in names if not name.startswith("user_") or name == "user_id"]
        if bad:
            raise ConfigError(f"user-attributes: {bad} are not user attribute columns; allowed: comma-separated "
                              "column names starting with 'user_' (not user_id), e.g. \"user_age,user_region\"")
        if len(set(names)) != len(names):
            raise ConfigError(f"user-attributes: repeated names in {self.user_attributes!r}")
        return names

    def metric_ks(self) -> tuple[int, ...]:
        """``metrics-k`` ("5,10,20") as sorted distinct integers from 1 to 1000 (() when empty)."""
        try:
            ks = tuple(sorted({int(text) for text in self.metrics_k.split(",") if text.strip()}))
        except ValueError:
            raise ConfigError(f"metrics-k: cannot read {self.metrics_k!r}; allowed: comma-separated integers from "
                              "1 to 1000, e.g. \"5,10,20\", or \"\"") from None
        if any(not 1 <= k <= 1000 for k in ks):
            raise ConfigError(f"metrics-k: {list(ks)} must each be from 1 to 1000")
        return ks

    def validate(self) -> None:
        """Raise ``ConfigError`` for the first unusable value."""
        for name, limit in SIZE_LIMITS.items():
            if getattr(self, name) > limit:
                raise ConfigError(f"{_key(name)} = {getattr(self, name)} is above its limit {limit:,}; allowed: an "
                                  f"integer up to {limit:,}")
        _at_least(self, "local_epochs", 0)  # 0: derived per site (recmodel.training.data_defaults)
        _positive_int(self, "num_server_rounds", "min_partners", "batch_size",
                      "embedding_dim", "history_length", "positives_per_user", "top_k")
        self.metric_ks()
        _positive_int(self, "profile_dim", "profile_epochs", "personalise_epochs")
        _positive_int(self, "synthetic_users", "synthetic_items", "synthetic_categories")
        if self.item_buckets != 0:
            _at_least(self, "item_buckets", 2)
        _at_least(self, "category_buckets", 2)
        _at_least(self, "attribute_buckets", 2)
        _at_least(self, "negatives_per_positive", 0)
        _at_least(self, "popularity_recent_items", 0)
        if self.popularity_noise_multiplier != 0:  # 0: derived per site (recmodel.training.release_plan)
            _in_range(self, "popularity_noise_multiplier", MIN_RELEASE_NOISE, MAX_NOISE, "a noise multiplier",
                      low_inclusive=True)
        _at_least(self, "min_interactions", 3)
        _in_range(self, "learning_rate", 0, MAX_LEARNING_RATE, "a learning rate")
        _in_range(self, "profile_learning_rate", 0, MAX_LEARNING_RATE, "a learning rate")
        _in_range(self, "server_learning_rate", 0, MAX_LEARNING_RATE, "a learning rate")
        _in_range(self, "max_grad_norm", 0, MAX_NORM, "a clipping norm")
        _in_range(self, "target_epsilon", MIN_EPSILON, MAX_EPSILON, "an epsilon", low_inclusive=True,
                  high_inclusive=True)
        _in_range(self, "max_epsilon", MIN_EPSILON, MAX_EPSILON, "an epsilon", low_inclusive=True, high_inclusive=True)
        self.epsilon_caps()
        _in_range(self, "target_delta", 0, 1, "a probability")
        _in_range(self, "momentum", 0, 1, "a momentum", low_inclusive=True)
        _at_least(self, "sparse_table_rows", 0)
        _in_range(self, "sparse_learning_rate", 0, MAX_LEARNING_RATE, "a learning rate")
        _one_of(self, "device", DEVICES)
        _one_of(self, "optimizer", LOCAL_OPTIMIZERS)
        _in_range(self, "proximal_mu", 0, MAX_NORM, "a proximal weight", low_inclusive=True)
        _in_range(self, "evaluation_noise_multiplier", MIN_RELEASE_NOISE, MAX_NOISE, "a noise multiplier",
                      low_inclusive=True)
        _in_range(self, "central_noise_multiplier", 0, MAX_NOISE, "a noise multiplier", low_inclusive=True)
        _in_range(self, "central_clipping_norm", 0, MAX_NORM, "a clipping norm")
        _in_range(self, "round_timeout", 0, 7 * 24 * 3600, "a timeout in seconds")
        _in_range(self, "max_update_norm", 0, MAX_NORM, "an update norm bound", low_inclusive=True)
        _in_range(self, "reference_time", 0, MAX_REFERENCE_TIME, "a time in seconds since 1970",
                      low_inclusive=True)
        self.declared_attributes()
        if self.site_policy and not Path(self.site_policy).expanduser().is_file():
            raise ConfigError(f"site-policy: file '{self.site_policy}' does not exist; allowed: '' (simulated sites "
                              "mirror the run config) or a TOML file of per-partner policies")
        if self.run_name and not RUN_NAME.fullmatch(self.run_name):
            raise ConfigError(f"run-name = {self.run_name!r} is not a plain name; allowed: letters, digits, '.', '_' "
                              "and '-', starting with a letter or digit (the run directory is <output-dir>/<run-name>)")
        _one_of(self, "strategy", STRATEGIES)
        if self.central_dp:
            if self.strategy == "fedadam":
                raise ConfigError("central-dp = true needs strategy 'fedavg' or 'fedprox' (Flower's accounted "
                                  "server-side clipping requires FedAvg aggregation); got 'fedadam'")
            if not self.central_noise_multiplier > 0:
                raise ConfigError("central-noise-multiplier must be > 0 when central-dp = true "
                                  f"(got {self.central_noise_multiplier})")
        _one_of(self, "privacy_unit", PRIVACY_UNITS)
        _one_of(self, "accountant", ACCOUNTANTS)
        _one_of(self, "loss", LOSSES)
        _one_of(self, "negative_sampling", NEGATIVE_SAMPLING)
        if self.popularity_prior and self.privacy_unit != "user":
            raise ConfigError("popularity-prior = true needs privacy-unit 'user' (one user's item counts are one "
                              f"unit vector); got '{self.privacy_unit}': set popularity-prior=false")
        if self.profiles and self.privacy_unit != "user":
            raise ConfigError("profiles = true needs privacy-unit 'user' (a profile summarises all of a user's "
                              f"events); got '{self.privacy_unit}'")
        if self.dataset != "synthetic" and not Path(self.dataset).expanduser().is_file():
            raise ConfigError(
                f"dataset: file '{self.dataset}' does not exist "
                f"(resolved to '{Path(self.dataset).expanduser().resolve()}'); "
                "allowed: 'synthetic' or a path to an events .parquet/.csv file"
            )
        if self.dataset != "synthetic" and not self.dataset.endswith((".parquet", ".csv")):
            raise ConfigError(
                f"dataset: '{self.dataset}' is neither 'synthetic' nor a .parquet/.csv file"
            )
        if self.catalogue and not (Path(self.catalogue).expanduser().is_file()
                                   and self.catalogue.endswith((".parquet", ".csv"))):
            raise ConfigError(f"catalogue: '{self.catalogue}' is not an existing .parquet/.csv file (item_id, optional "
                              "category and price); \"\" = the items of the events")


def _key(name: str) -> str:
    return name.replace("_", "-")


def _coerce(key: str, value: Any, type_name: Any) -> Any:
    type_name = getattr(type_name, "__name__", type_name)
    try:
        if type_name == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError(value)
        if isinstance(value, bool):
            raise ValueError(value)  # True is not a number of rounds
        if type_name == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if type_name == "float":
            number = float(value)
            if math.isnan(number):
                raise ValueError(value)
            return number
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be of type {type_name} (got {value!r})") from None


def _positive_int(config: RunConfig, *names: str) -> None:
    for name in names:
        _at_least(config, name, 1)


def _at_least(config: RunConfig, name: str, minimum: int) -> None:
    value = getattr(config, name)
    if value < minimum:
        raise ConfigError(f"{_key(name)} must be an integer >= {minimum} (got {value})")


def _in_range(config: RunConfig, name: str, low: float, high: float, what: str, *, low_inclusive: bool = False,
              high_inclusive: bool = False) -> None:
    """``low < value < high`` (or inclusive ends), finite: else a ``ConfigError`` naming key, value and range."""
    value = getattr(config, name)
    above = value >= low if low_inclusive else value > low
    below = value <= high if high_inclusive else value < high
    if not (math.isfinite(value) and above and below):
        interval = f"{'[' if low_inclusive else '('}{low:g}, {high:g}{']' if high_inclusive else ')'}"
        raise ConfigError(f"{_key(name)} = {value!r} is not usable as {what}; allowed: a finite number in {interval}")


def _one_of(config: RunConfig, name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(config, name)
    if value not in allowed:
        raise ConfigError(
            f"{_key(name)} = '{value}' is not supported; allowed values: {', '.join(allowed)}"
        )
