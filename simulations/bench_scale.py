"""Simulation scale: the default app with more and more partners over a fixed total of users.

    python -m simulations.bench_scale [--partners 2 10 50 100] [--users 10000] [--rounds 2] [--json]
                                      [--work-dir sweeps/bench-scale]

Each partner count is one real ``fedrec run`` (local SuperLink of its own,
Ray simulation engine, DP on, all other settings default) over
``--users`` synthetic users split evenly. From the run's ``metrics.jsonl`` it
reports the wall time of each training round (the row's ``seconds``: training,
aggregation and evaluation) and the model bytes the server sent and received
in it; the peak memory is the largest sum of resident memory over every
process of that run's Flower home (SuperLink, simulation, Ray workers),
sampled twice a second. ``--json`` prints one JSON object per partner count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from pathlib import Path

from recmodel.processes import processes_started_with
from simulations.sweep import Point, run_sweep

PAGE = 4096


def resident_mib(pids: list[int]) -> float:
    """Sum of the resident memory of ``pids`` (MiB); vanished processes count zero."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**20


class PeakMemory:
    """Samples the summed resident memory of the processes of one Flower home in a background thread."""

    def __init__(self, flwr_home: Path, interval_s: float = 0.5) -> None:
        self.flwr_home, self.interval_s = flwr_home, interval_s
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_mib = max(self.peak_mib, resident_mib(processes_started_with(self.flwr_home)))

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def measure(partners: int, *, users: int, rounds: int, work_dir: Path) -> dict:
    """Run the default app with ``partners`` partners; per-round seconds and bytes, peak MiB, status."""
    point = Point(f"partners-{partners}", {"synthetic-users": users, "num-server-rounds": rounds}, partners)
    point_dir = (work_dir / point.name).resolve()
    with PeakMemory(point_dir / "flwr-home") as memory, contextlib.redirect_stdout(sys.stderr):  # progress lines
        table = run_sweep([point], point_dir / "result.csv", base={}, work_dir=point_dir)
    status = table.iloc[0]["status"] if len(table) else "failed"
    rows = [json.loads(line) for line in (point_dir / "runs" / point.name / "metrics.jsonl").read_text().splitlines()
            ] if status in ("succeeded", "degraded") else []
    rounds_done = [r for r in rows if r["round"] > 0]
    per_round = [r.get("seconds") for r in rounds_done]
    return {
        "partners": partners, "users": users, "users_per_partner": users // partners, "status": status,
        "round_seconds": per_round,
        "mean_round_seconds": sum(per_round) / len(per_round) if per_round else None,
        "bytes_sent_per_round": [r["bytes"]["sent"] for r in rounds_done],
        "bytes_received_per_round": [r["bytes"]["received"] for r in rounds_done],
        "peak_mib": memory.peak_mib,
        "ndcg@10": table.iloc[0]["ndcg@10"] if len(table) else None,
        "total_seconds": float(table.iloc[0]["seconds"]) if len(table) else None,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners", type=int, nargs="+", default=[2, 10, 50, 100])
    parser.add_argument("--users", type=int, default=10_000, help="total synthetic users, split evenly")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=Path("sweeps/bench-scale"))
    parser.add_argument("--json", action="store_true", help="one JSON object per partner count on stdout")
    args = parser.parse_args(argv)
    if not args.json:
        print(f"{'partners':>8} | {'users each':>10} | {'s / round':>9} | {'MB sent / round':>15} | "
              f"{'MB received / round':>19} | {'peak MiB':>8} | status")
    for partners in args.partners:
        began = time.time()
        record = measure(partners, users=args.users, rounds=args.rounds, work_dir=args.work_dir)
        if args.json:
            print(json.dumps(record), flush=True)
            continue
        mean = record["mean_round_seconds"]
        sent, received = record["bytes_sent_per_round"], record["bytes_received_per_round"]
        print(f"{partners:>8} | {record['users_per_partner']:>10} | "
              f"{'-' if mean is None else f'{mean:.1f}':>9} | "
              f"{(sum(sent) / len(sent) / 1e6 if sent else 0):>15.2f} | "
              f"{(sum(received) / len(received) / 1e6 if received else 0):>19.2f} | "
              f"{record['peak_mib']:>8.0f} | {record['status']} ({time.time() - began:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
