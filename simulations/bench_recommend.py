"""Recommendation export benchmark: ``fedrec recommend`` throughput.

    python -m simulations.bench_recommend [--users 20000] [--items 5000] [--top-k 10]

Generates a synthetic events file, saves an (untrained: throughput does not
depend on the weights) model bundle of the default architecture, runs the
real ``fedrec recommend`` code path over every user x every item, and prints
users/s, scored pairs/s and the projected time for 100,000 users x 10,000
items on this machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from recmodel.cli import main as fedrec
from recmodel.data.federated import load_federated_data, model_spec_for
from recmodel.data.synthetic import SyntheticSpec, generate_events
from recmodel.model.bundle import Recommender
from server.run_directory import RunDirectory
from simulations.defaults import default_run_config


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--top-k", type=int, default=10)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="fedrec-bench-recommend-"))
    config = default_run_config(synthetic_users=args.users, synthetic_items=args.items, item_buckets=2 * args.items,
                                output_dir=str(folder), run_name="run")
    events = generate_events(SyntheticSpec(users=args.users, items=args.items, partners=1, seed=0))
    events_file = folder / "events.parquet"
    events.to_parquet(events_file, index=False)
    data = load_federated_data(config.replace(dataset=str(events_file)), num_partitions=1)
    model = Recommender(model_spec_for(config, data))
    run = RunDirectory.create(config)
    run.save_model(model.state_dict(), model.spec, config)
    torch.set_num_threads(torch.get_num_threads())
    start = time.perf_counter()
    fedrec(["recommend", "--run", str(run.path), "--data", str(events_file), "--top-k", str(args.top_k),
            "--out", str(folder / "recs.csv")])
    elapsed = time.perf_counter() - start
    pairs = len(data.users) * len(data.catalogue)
    rate = pairs / elapsed
    print(f"{'users':>8} | {'items':>6} | {'seconds':>7} | {'users/s':>8} | {'pairs/s':>10} | projected 100k x 10k")
    print(f"{len(data.users):>8,} | {len(data.catalogue):>6,} | {elapsed:>7.1f} | {len(data.users) / elapsed:>8,.0f} | "
          f"{rate:>10,.0f} | {1e9 / rate / 60:.1f} min")


if __name__ == "__main__":
    main()
