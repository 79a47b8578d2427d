"""Noise multipliers already calibrated on this machine, kept across processes and runs, trusted only once verified.

A calibration is a pure function of public numbers (the planned releases, target epsilon, delta, accountant),
yet its search costs 6-7 PRV evaluations (about 5 s for a small site's plan), and every run, every simulated
partner (its own Ray worker) and every ClientApp process repeats it. This file remembers the answers:
``$FEDREC_CALIBRATION_CACHE`` (a JSON file), by default ``$XDG_CACHE_HOME/fedrec/calibrations.json``
(``~/.cache/fedrec/calibrations.json``).

The file is outside the site's control (any process of the user may write it), so it is never trusted: the
caller re-evaluates a remembered multiplier once with its own accountant and uses it only when it spends at
most the target and at least the target less the calibration tolerance, exactly what a fresh search returns;
anything else (a missing, garbled or edited file, a wrong entry) is a miss and the search runs. At most
``MAX_ENTRIES`` answers are kept (the newest); concurrent writers may lose each other's answers, never corrupt
the file (atomic replace).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

ENV_VAR = "FEDREC_CALIBRATION_CACHE"
MAX_ENTRIES = 512


def cache_path() -> Path:
    """``$FEDREC_CALIBRATION_CACHE``, else ``$XDG_CACHE_HOME/fedrec/calibrations.json`` (``~/.cache`` default)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fedrec" / "calibrations.json"


def calibration_key(releases: tuple, target_epsilon: float, delta: float, accountant: str, fixed: tuple) -> str:
    """The question, as text: every number that decides the answer."""
    return json.dumps([list(map(list, releases)), target_epsilon, delta, accountant, list(map(list, fixed))])


def remembered(key: str) -> float | None:
    """The multiplier stored for ``key`` (unverified: the caller checks it), or None."""
    value = _read().get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def remember(key: str, noise_multiplier: float) -> None:
    """Store an answer; a cache that cannot be written (read-only home, full disk) is only slower, never an error."""
    entries = _read()
    entries.pop(key, None)
    entries[key] = float(noise_multiplier)
    kept = dict(list(entries.items())[-MAX_ENTRIES:])
    path, tmp = cache_path(), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
            tmp = Path(handle.name)  # a temporary file of its own: concurrent writers never share one
            handle.write(json.dumps(kept))
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _read() -> dict:
    try:
        entries = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}
