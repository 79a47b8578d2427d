"""What the coordinator saw, kept for the empirical privacy audit (simulation, ``keep-site-updates = true``).

Layout under ``<run-dir>/site-updates/``, one folder per round r (``round-001`` ...)::

    global.pt        the global model the round started from (state dict)
    <partner>.pt     each partner's released model of the round, as received and accepted
    aggregate.pt     the aggregated global model the round ended with

Files are ``torch.save`` state dicts (name -> tensor), read back with ``torch.load(weights_only=True)``.
``simulations.canary_audit`` scores its canaries against them: the per-partner files are the strongest view a
curious coordinator has, ``aggregate.pt`` of the last round is what the public sees.
"""

from __future__ import annotations

from pathlib import Path

import torch

from recmodel.atomic_write import write_atomically

FOLDER = "site-updates"


def round_folder(run_dir: Path, server_round: int) -> Path:
    return Path(run_dir) / FOLDER / f"round-{server_round:03d}"


class SiteUpdateArchive:
    """Writes the archive of one run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)

    def keep(self, server_round: int, name: str, state: dict[str, torch.Tensor]) -> None:
        """Keep ``state`` as ``<name>.pt`` of round ``server_round`` (``global``, a partner, ``aggregate``)."""
        folder = round_folder(self.run_dir, server_round)
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder / f"{name}.pt", lambda tmp: torch.save(state, tmp))


def kept_rounds(run_dir: Path) -> list[int]:
    """The rounds whose folder holds an ``aggregate.pt``, ascending."""
    folders = sorted((Path(run_dir) / FOLDER).glob("round-*"))
    return [int(f.name.split("-")[1]) for f in folders if (f / "aggregate.pt").is_file()]


def load_kept(run_dir: Path, server_round: int, name: str) -> dict[str, torch.Tensor]:
    """One kept state dict (weights only: nothing in the file runs)."""
    return torch.load(round_folder(run_dir, server_round) / f"{name}.pt", weights_only=True)
