"""The app's default run config, read from the repository's pyproject.toml.

For scripts and tests that run ``recmodel`` directly (without ``flwr run``):
the defaults stay in one place, ``[tool.flwr.app.config]``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from recmodel.config import RunConfig

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def app_config_values(pyproject: Path = PYPROJECT) -> dict:
    with pyproject.open("rb") as handle:
        return dict(tomllib.load(handle)["tool"]["flwr"]["app"]["config"])


def default_run_config(**overrides) -> RunConfig:
    """``RunConfig`` from the defaults, with overrides given as python field names."""
    values = app_config_values()
    values.update({key.replace("_", "-"): value for key, value in overrides.items()})
    return RunConfig.from_mapping(values)
