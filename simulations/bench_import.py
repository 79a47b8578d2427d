"""Import benchmark: stream a large generated CSV into the events schema.

    python -m simulations.bench_import [--rows 10000000] [--dir /tmp/fedrec-bench]

Writes a Taobao-format CSV (user, item, category, behavior, timestamp; no
header) of ``--rows`` events, then imports it with ``fedrec data import
taobao`` logic in a fresh child process and prints rows/s and that process's
peak resident memory (the import streams in chunks: memory stays flat as the
file grows; duplicate detection keeps 8 bytes per row).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

BEHAVIORS = np.array(["pv", "pv", "pv", "pv", "fav", "cart", "buy"])


def write_csv(path: Path, rows: int, *, chunk: int = 1_000_000, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w") as handle:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            frame = pd.DataFrame({
                "user": rng.integers(1, rows // 100 + 2, n),
                "item": rng.zipf(1.3, n) % 1_000_000,
                "category": rng.integers(1, 5_000, n),
                "behavior": BEHAVIORS[rng.integers(0, len(BEHAVIORS), n)],
                "timestamp": 1_511_500_000 + rng.integers(0, 9 * 86_400, n),
            })
            frame.to_csv(handle, header=False, index=False)


def _import(source: str, out: str, queue) -> None:
    from recmodel.data.importers import import_events

    start = time.perf_counter()
    report = import_events("taobao", source, out)
    elapsed = time.perf_counter() - start
    queue.put((report.rows_read, report.rows_kept, report.duplicates, elapsed,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", default="/tmp/fedrec-bench-import")
    args = parser.parse_args(argv)
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    source, out = folder / "UserBehavior.csv", folder / "events.parquet"
    start = time.perf_counter()
    write_csv(source, args.rows)
    print(f"generated {args.rows:,} rows ({source.stat().st_size / 2**20:,.0f} MiB CSV) in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    context = mp.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_import, args=(str(source), str(out), queue))
    child.start()
    read, kept, duplicates, elapsed, peak = queue.get()
    child.join()
    print(f"{'rows read':>12} | {'written':>12} | {'duplicates':>10} | {'seconds':>7} | {'rows/s':>10} | {'peak MiB':>8}")
    print(f"{read:>12,} | {kept:>12,} | {duplicates:>10,} | {elapsed:>7.1f} | {read / elapsed:>10,.0f} | {peak:>8,.0f}")
    print(f"output: {out} ({out.stat().st_size / 2**20:,.0f} MiB Parquet)")


if __name__ == "__main__":
    main()
