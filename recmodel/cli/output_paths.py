"""Outputs never destroy inputs: every ``fedrec`` command checks where it will write before it reads anything.

Refused, with one line naming the path: an output that is an input, contains
one, or lies inside one; an existing file or non-empty directory without
``--force`` (with ``--force`` it is replaced atomically, once the new output
is complete); an extension that does not match the format written; a parent
that is a file or is not writable.
"""

from __future__ import annotations

import os
from pathlib import Path

from recmodel.errors import DataError


def _overlaps(out: Path, source: Path) -> str | None:
    if out == source:
        return "is"
    if source.is_relative_to(out):
        return "contains"
    if out.is_relative_to(source):
        return "lies inside"
    return None


def checked_output(out: str | Path, *, inputs: list[str | Path], suffixes: tuple[str, ...] = (),
                   directory: bool = False, force: bool = False, option: str = "--out") -> Path:
    """The resolved output path, after every check above; raises ``DataError`` otherwise."""
    out = Path(out).expanduser().resolve()
    for source in inputs:
        source = Path(source).expanduser().resolve()
        relation = _overlaps(out, source)
        if relation:
            raise DataError(f"{option} {out} {relation} the input {source}; write somewhere else")
    if suffixes and not directory and out.suffix not in suffixes:
        raise DataError(f"{option} {out}: this command writes {'/'.join(suffixes)} files; name the output "
                        f"with that extension")
    if out.exists():
        if directory and not out.is_dir() or not directory and out.is_dir():
            kind = "a directory" if out.is_dir() else "a file"
            raise DataError(f"{option} {out} is {kind}; expected {'a directory' if directory else 'a file'}")
        occupied = not directory or any(out.iterdir())
        if occupied and not force:
            raise DataError(f"{option} {out} already exists; pass --force to replace it")
    parent = out.parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise DataError(f"{option} {out}: {existing} is a file, not a directory")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"{option} {out}: directory {existing} is not writable")
    return out
