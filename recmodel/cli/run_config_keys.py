"""Check ``--run-config`` keys against the app's ``[tool.flwr.app.config]`` before Flower sees them.

Flower answers an unknown key with ``[code: 15] Invalid run configuration.`` and no name; ``fedrec run``
names the key and suggests the closest valid one instead, before any process starts.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path

from recmodel.config import ConfigError

PAIR = re.compile(r"(\S+?)=(\'[^\']*\'|\"[^\"]*\"|\S+)")  # Flower's own key=value pattern (flwr.common.config)
FLAG_HINTS = {  # flags people try on `fedrec run`, and where the setting lives
    "--rounds": '--run-config "num-server-rounds=N"',
    "--num-rounds": '--run-config "num-server-rounds=N"',
    "--epochs": '--run-config "local-epochs=N"',
    "--epsilon": '--run-config "target-epsilon=X"',
    "--dataset": "--run-config \"dataset='path/to/events.parquet'\"",
    "--data": "--run-config \"dataset='path/to/events.parquet'\"",
    "--partners": '--federation-config "num-supernodes=N"',
    "--num-supernodes": '--federation-config "num-supernodes=N"',
    "--clients": '--federation-config "num-supernodes=N"',
    "--no-dp": '--run-config "dp=false"',
}


def app_config_keys(app_dir: str | Path) -> list[str]:
    """The keys of ``[tool.flwr.app.config]`` in the app's pyproject.toml ([] when it has none)."""
    pyproject = Path(app_dir) / "pyproject.toml"
    if not pyproject.is_file():
        return []
    with pyproject.open("rb") as handle:
        config = tomllib.load(handle).get("tool", {}).get("flwr", {}).get("app", {}).get("config", {})
    return sorted(_flatten(config))


def override_keys(run_config: str) -> list[str]:
    """The keys a ``--run-config`` value sets: ``key=value ...`` pairs, or the keys of a ``.toml`` file."""
    if run_config.strip().endswith(".toml"):
        path = Path(run_config.strip()).expanduser()
        try:
            with path.open("rb") as handle:
                return sorted(_flatten(tomllib.load(handle)))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"--run-config {path}: cannot be read as TOML ({error})") from None
    return [key for key, _ in PAIR.findall(run_config)]


def check_run_config(run_config: str | None, app_dir: str | Path) -> None:
    """Raise ``ConfigError`` naming the first unknown key and the closest valid one."""
    valid = app_config_keys(app_dir)
    if not run_config or not valid:
        return
    for key in override_keys(run_config):
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"--run-config: unknown key '{key}'{hint} (every key is in {Path(app_dir) / 'pyproject.toml'} "
                              "[tool.flwr.app.config])")


def flag_hint(unknown: list[str]) -> str | None:
    """A hint for the first flag of ``unknown`` that people try on ``fedrec run``, or None."""
    for argument in unknown:
        flag = argument.split("=", 1)[0]
        if flag in FLAG_HINTS:
            return f"fedrec run has no {flag}; use {FLAG_HINTS[flag]}"
    return None


def _flatten(table: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in table.items():
        name = f"{prefix}{key}"
        keys += _flatten(value, name + ".") if isinstance(value, dict) else [name]
    return keys
