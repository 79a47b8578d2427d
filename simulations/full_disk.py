"""A file system that runs out of space: a small tmpfs mounted for a block, filled to its last byte.

Used by the chaos command's ``disk-full`` case and by the tests of a full disk during a ledger append. Mounting
needs CAP_SYS_ADMIN (root in a container); ``tmpfs`` yields False where the kernel refuses it.
"""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def tmpfs(path: Path, size: str):
    """A tmpfs of ``size`` mounted on ``path`` for the block (yields False when mounting is not allowed)."""
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                 capture_output=True).returncode == 0
    except OSError:  # no mount program
        mounted = False
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "--lazy", str(path)], capture_output=True)


def fill(folder: Path) -> None:
    """Write ``folder/filler`` until its file system has not one byte left (ENOSPC)."""
    with (folder / "filler").open("wb", buffering=0) as handle:
        block = b"\0" * (1 << 20)
        while True:
            try:
                handle.write(block)
            except OSError:
                if len(block) == 1:
                    return
                block = block[: len(block) // 2]
