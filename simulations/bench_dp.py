"""DP cost benchmark: the same DLRM trained with and without DP-SGD, side by side.

    python -m simulations.bench_dp [--rows 10000 100000 1000000] [--steps 20] [--batch-size 256 4096] [--json]

For each item-table size the benchmark trains the default-architecture DLRM
on random user batches (B users x L candidates, H history items) with plain
SGD and with Opacus DP-SGD (ghost clipping, Poisson sampling, noise), and
prints users/s for both, the ratio DP / non-DP, and the peak resident memory.
Each measurement runs in a fresh child process (so peak RSS is that
configuration's own), and the pairs run back to back in one invocation.
``--json`` prints one JSON object per (rows, batch) configuration instead of
the table: rows, batch, device, users/s and peak MiB of each path, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
import warnings

import torch
from torch.utils.data import TensorDataset

from recmodel.model.dlrm import DLRM, ModelSpec
from recmodel.training.local import DPSettings, train_locally
from simulations.defaults import default_run_config

WARMUP_STEPS = 2


def _random_examples(spec: ModelSpec, users: int, config) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    h, pos = config.history_length, config.positives_per_user
    candidates = pos * (1 + config.negatives_per_positive)
    labels = torch.zeros(users, candidates)
    labels[:, :pos] = 1.0
    return TensorDataset(
        torch.rand(users, spec.user_dense_dim, generator=g),
        torch.randint(1, spec.attribute_buckets, (users, spec.num_user_attributes), generator=g),
        torch.randint(1, spec.item_buckets, (users, h), generator=g),
        torch.randint(1, spec.category_buckets, (users, h), generator=g),
        torch.ones(users, h),
        torch.randint(1, spec.item_buckets, (users, candidates), generator=g),
        torch.randint(1, spec.category_buckets, (users, candidates), generator=g),
        torch.rand(users, candidates, 1, generator=g),
        labels,
        torch.ones(users, candidates),
        torch.zeros(users, 0),  # no profile embedding
    )


def _measure(rows: int, dp: bool, steps: int, batch_size: int, queue) -> None:
    """Child process: train ``steps`` steps, report users/s and peak RSS (MiB)."""
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    config = default_run_config()
    spec = ModelSpec(item_buckets=rows, category_buckets=config.category_buckets,
                     attribute_buckets=config.attribute_buckets, num_user_attributes=3,
                     user_dense_dim=6, embedding_dim=config.embedding_dim, history_match=True)
    model = DLRM(spec)
    settings = DPSettings(noise_multiplier=1.0, max_grad_norm=config.max_grad_norm) if dp else None
    train = lambda n: train_locally(model, _random_examples(spec, n * batch_size, config), epochs=1,  # noqa: E731
                                    batch_size=batch_size, learning_rate=0.1, momentum=0.9, dp=settings)
    train(WARMUP_STEPS)
    start = time.perf_counter()
    report = train(steps)
    elapsed = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((report.examples / elapsed, peak_mib, report.steps))


def measure(rows: int, dp: bool, steps: int, batch_size: int) -> tuple[float, float, int]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_measure, args=(rows, dp, steps, batch_size, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[default_run_config().batch_size])
    parser.add_argument("--json", action="store_true", help="one JSON object per configuration on stdout")
    args = parser.parse_args(argv)
    header = (f"{'item rows':>10} | {'batch':>5} | {'non-DP users/s':>14} | {'DP users/s':>10} | {'DP/non-DP':>9} | "
              f"{'non-DP peak MiB':>15} | {'DP peak MiB':>11}")
    if not args.json:
        print(f"DLRM training throughput, {args.steps} timed steps, torch threads {torch.get_num_threads()}")
        print(header)
        print("-" * len(header))
    for rows in args.rows:
        for batch in args.batch_size:
            plain_speed, plain_mem, _ = measure(rows, False, args.steps, batch)
            dp_speed, dp_mem, _ = measure(rows, True, args.steps, batch)
            if args.json:
                print(json.dumps({"rows": rows, "batch": batch, "device": "cpu", "steps": args.steps,
                                  "non_dp_users_per_s": plain_speed, "dp_users_per_s": dp_speed,
                                  "dp_over_non_dp": dp_speed / plain_speed, "non_dp_peak_mib": plain_mem,
                                  "dp_peak_mib": dp_mem}), flush=True)
            else:
                print(f"{rows:>10,} | {batch:>5} | {plain_speed:>14.1f} | {dp_speed:>10.1f} | "
                      f"{dp_speed / plain_speed:>9.3f} | {plain_mem:>15.0f} | {dp_mem:>11.0f}", flush=True)


if __name__ == "__main__":
    main()
