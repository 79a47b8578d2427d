"""Output files appear whole or not at all."""

from __future__ import annotations

from pathlib import Path


def write_atomically(target: Path, write) -> None:
    """Call ``write(tmp)`` for a hidden temporary file beside ``target``, then rename it onto ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{target.suffix}")
    try:
        write(tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet_atomically(frame, target: Path) -> None:
    """Write ``frame`` as Parquet to ``target``, whole or not at all."""
    write_atomically(target, lambda tmp: frame.to_parquet(tmp, index=False))
