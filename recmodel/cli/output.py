"""Output files appear whole or not at all."""

from __future__ import annotations

from pathlib import Path


def write_parquet_atomically(frame, target: Path) -> None:
    """Write ``frame`` to a hidden temporary file beside ``target``, then rename it onto ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        frame.to_parquet(tmp, index=False)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
