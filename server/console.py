"""What the ServerApp prints: fedrec's own lines on the console, Flower's INFO chatter in the run directory.

By default Flower's console handler shows warnings and errors only, and every
Flower log record at INFO and above goes to ``<run-dir>/flower.log``;
``verbose = true`` keeps Flower's INFO lines on the console as well. Opacus
calls ``logging.basicConfig()`` on import, adding a root handler that would
print every Flower line a second time: Flower's records stop at Flower's logger.
Ray's start-up tip about accelerator variables (a FutureWarning that does not
apply on a CPU run) is opted out of, so it does not reach the console.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flwr.common.logger import update_console_handler

FLOWER_LOGGER = "flwr"


def quiet_console(log_file: Path | None, *, verbose: bool) -> None:
    """Route Flower's INFO log to ``log_file`` (if given); keep it on the console only when ``verbose``."""
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # read when Ray starts, after this
    flower = logging.getLogger(FLOWER_LOGGER)
    flower.propagate = False
    if log_file is not None and not any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == log_file for h in flower.handlers):
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setLevel(logging.INFO)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        flower.addHandler(to_file)
    update_console_handler(level=logging.INFO if verbose else logging.WARNING)


def fail_in_one_line(message: str) -> None:
    """Print ``message`` as the one line a user sees, and keep Flower from printing the traceback after it."""
    print(message, flush=True)
    update_console_handler(level=logging.CRITICAL)


def progress(message: str) -> None:
    """One progress line on the console (streamed by ``flwr run --stream``)."""
    print(message, flush=True)
