"""Append-only, hash-chained privacy ledger (JSON Lines).

Each line is one DP event (an immutable fact: what was released, with which
noise, sampling rate and steps) plus ``prev_hash`` and ``hash``. ``hash`` is
the SHA-256 of the line's canonical JSON without ``hash``, so editing,
deleting or reordering lines breaks the chain. Lines are flushed and fsynced
before ``append`` returns: callers append *before* the update leaves the node,
so a crash can over-count but never under-count.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

GENESIS_HASH = "0" * 64
MECHANISM = "poisson_subsampled_gaussian"


@dataclass(frozen=True)
class DPEvent:
    """One DP training release by one partner (a round of one model)."""

    run_id: str
    round: int
    model: str
    noise_multiplier: float
    sample_rate: float
    steps: int
    max_grad_norm: float
    privacy_unit: str
    delta: float
    epsilon: float  # cumulative over the whole ledger after this event
    accountant: str
    population: int
    timestamp: float
    partner: str
    max_epsilon: float  # the partner's cap in force for this release
    mechanism: str = MECHANISM


def entry_hash(entry: dict) -> str:
    """SHA-256 of the canonical JSON of ``entry`` without its ``hash`` key."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class PrivacyLedger:
    """One partner's ledger file; every model and run of that partner composes here."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def entries(self) -> list[dict]:
        """All entries, oldest first ([] when the file does not exist yet)."""
        if not self.path.exists():
            return []
        entries = []
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{self.path}: line {number}: not valid JSON ({error})") from error
        return entries

    def history(self) -> list[tuple[float, float, int]]:
        """``(noise_multiplier, sample_rate, steps)`` of every entry, for an accountant."""
        return [(e["noise_multiplier"], e["sample_rate"], e["steps"]) for e in self.entries()]

    def head(self) -> tuple[int, str]:
        """(number of entries, hash of the last one): the anchor a run report records."""
        entries = self.entries()
        return len(entries), entries[-1]["hash"] if entries else GENESIS_HASH

    def append(self, event: DPEvent) -> dict:
        """Chain, write, flush and fsync one event; returns the written entry."""
        entries = self.entries()
        entry = asdict(event)
        entry["prev_hash"] = entries[-1]["hash"] if entries else GENESIS_HASH
        entry["hash"] = entry_hash(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return entry
