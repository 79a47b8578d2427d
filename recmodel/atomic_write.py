"""Files appear whole or not at all: write beside the target, fsync, rename onto it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` for a hidden temporary file beside ``target`` (same suffix), fsync it, rename it onto
    ``target``; on any error the temporary file is removed and ``target`` is untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{target.suffix}")
    try:
        write(tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
