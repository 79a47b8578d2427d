"""Output files appear whole or not at all."""

from __future__ import annotations

from pathlib import Path

from recmodel.atomic_write import write_atomically


def write_parquet_atomically(frame, target: Path) -> None:
    """Write ``frame`` as Parquet to ``target``, whole or not at all."""
    write_atomically(target, lambda tmp: frame.to_parquet(tmp, index=False))
