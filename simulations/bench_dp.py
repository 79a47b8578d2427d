"""DP cost benchmark: the same DLRM trained three ways, side by side in one invocation.

    python -m simulations.bench_dp [--rows 10000 100000 1000000 5000000] [--batch-size 256 4096]
                                   [--steps N] [--device auto|cpu|cuda] [--json]

For each (item rows, batch) the benchmark trains the default-architecture
DLRM (dim 32, 3 user attributes) on random user batches (B users x L = 40
candidates, H = 20 history items) and reports users/s of:

- ``dp``: the project's DP-SGD (``train_locally``: embedding-aware clipping,
  item tables with at least ``sparse-table-rows`` rows on plain SGD with
  deferred noise, Adam elsewhere; Poisson sampling, noise multiplier 1);
- ``opacus``: Opacus's stock ghost clipping (``dp_implementation="opacus"``,
  Opacus's DataLoader and optimizer, Adam), as the project trained before;
- ``fastest``: the fastest honest non-private training of the same model:
  plain SGD on shuffled slices of the data, with sparse and with dense
  embedding gradients; the faster of the two is the reference.

Ratios dp / fastest and opacus / fastest, and each path's peak memory: on CPU
the peak resident set of a fresh child process per measurement; on CUDA the
peak allocated device memory. A timed run is one call of local training
(for DP: the steps, then the deferred noise settled on every row, as before a
release) of ``--steps`` steps, by default enough for 16,384 users (64 steps
at batch 256, 6 at 4096), after two warm-up steps. ``--json`` prints one JSON
object per configuration.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
import warnings
from queue import Empty

import torch
from torch.utils.data import TensorDataset

from recmodel.device import resolve_device
from recmodel.model.dlrm import DLRM, ModelSpec
from recmodel.model.loss import recommendation_criterion
from recmodel.training.local import DPSettings, recommendation_loss, train_locally
from simulations.defaults import default_run_config

WARMUP_STEPS = 2
NEGATIVES_PER_POSITIVE = 4  # the workload the committed figures measured (a run derives its own: data_defaults)
USERS_PER_RUN = 16_384  # default timed users per configuration: a round of a large partner
PATHS = ("dp", "opacus", "fastest-sparse", "fastest-dense")


def random_examples(spec: ModelSpec, users: int, config) -> TensorDataset:
    """``users`` random examples laid out like ``TrainingExamples``: the ``RecBatch`` fields (P positives then
    negatives per user), then the logit offsets [users, L] (zero: uniform negatives)."""
    g = torch.Generator().manual_seed(0)
    h, pos = config.history_length, config.positives_per_user
    candidates = pos * (1 + NEGATIVES_PER_POSITIVE)
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
        torch.zeros(users, candidates),  # logit offsets
    )


def train_fastest_non_private(model: DLRM, examples: TensorDataset, *, batch_size: int, sparse: bool,
                              device: torch.device) -> None:
    """One epoch of plain SGD on shuffled slices; ``sparse``: embedding tables produce sparse gradients."""
    for table in model.modules():
        if isinstance(table, torch.nn.Embedding):
            table.sparse = sparse
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = recommendation_criterion(default_run_config().loss)
    order = torch.randperm(len(examples))
    for start in range(0, len(examples), batch_size):
        index = order[start:start + batch_size]
        optimizer.zero_grad(set_to_none=True)
        recommendation_loss(model, criterion, [t[index].to(device) for t in examples.tensors]).backward()
        optimizer.step()


def _train(path: str, model: DLRM, examples: TensorDataset, batch_size: int, device: torch.device) -> None:
    config = default_run_config()
    if path.startswith("fastest"):
        return train_fastest_non_private(model, examples, batch_size=batch_size, sparse=path == "fastest-sparse",
                                         device=device)
    train_locally(model, examples, epochs=1, batch_size=batch_size, learning_rate=config.learning_rate,
                  optimizer=config.optimizer, dp=DPSettings(noise_multiplier=1.0, max_grad_norm=config.max_grad_norm),
                  dp_implementation="embedding-aware" if path == "dp" else "opacus",
                  sparse_table_rows=config.sparse_table_rows, sparse_learning_rate=config.sparse_learning_rate,
                  device=device)


def _measure(path: str, rows: int, steps: int, batch_size: int, device: str, queue) -> None:
    """Child process: train ``steps`` steps of ``path``; report users/s and peak memory (MiB)."""
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    config = default_run_config()
    spec = ModelSpec(item_buckets=rows, category_buckets=config.category_buckets,
                     attribute_buckets=config.attribute_buckets, num_user_attributes=3,
                     user_dense_dim=6, embedding_dim=config.embedding_dim, history_match=True)
    target = torch.device(device)
    model = DLRM(spec).to(target)
    _train(path, model, random_examples(spec, WARMUP_STEPS * batch_size, config), batch_size, target)
    examples = random_examples(spec, steps * batch_size, config)
    if target.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    _train(path, model, examples, batch_size, target)
    if target.type == "cuda":
        torch.cuda.synchronize()
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((len(examples) / (time.perf_counter() - start), peak_mib))


def measure(path: str, rows: int, steps: int, batch_size: int, device: str) -> tuple[float, float]:
    """(users/s, peak MiB) of one path, in a fresh child process."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_measure, args=(path, rows, steps, batch_size, device, queue))
    child.start()
    while True:  # a child that dies before reporting (an exception, the OOM killer) must not hang the benchmark
        try:
            result = queue.get(timeout=1.0)
            break
        except Empty:
            if not child.is_alive():
                raise RuntimeError(f"bench_dp: the '{path}' measurement (rows={rows}, batch={batch_size}, "
                                   f"device={device}) exited with status {child.exitcode} before reporting; "
                                   "its traceback is printed above") from None
    child.join()
    return result


def configuration(rows: int, batch: int, steps: int, device: str) -> dict:
    """Every path at one (rows, batch): users/s, peak MiB, and the ratios to the fastest non-private path."""
    figures = {path: measure(path, rows, steps, batch, device) for path in PATHS}
    fastest = max(("fastest-sparse", "fastest-dense"), key=lambda p: figures[p][0])
    record = {"rows": rows, "batch": batch, "device": device, "steps": steps, "fastest_non_dp": fastest}
    for path, (speed, peak) in figures.items():
        key = path.replace("-", "_")
        record[f"{key}_users_per_s"], record[f"{key}_peak_mib"] = speed, peak
    record["dp_over_fastest"] = figures["dp"][0] / figures[fastest][0]
    record["opacus_over_fastest"] = figures["opacus"][0] / figures[fastest][0]
    record["dp_peak_over_fastest_peak"] = figures["dp"][1] / figures[fastest][1]
    return record


HEADER = (f"{'rows':>9} | {'batch':>5} | {'DP users/s':>10} | {'Opacus users/s':>14} | {'fastest users/s':>15} | "
          f"{'DP/fastest':>10} | {'Opacus/fastest':>14} | {'DP MiB':>7} | {'Opacus MiB':>10} | {'fastest MiB':>11}")


def table_row(r: dict) -> str:
    fastest = r["fastest_non_dp"].replace("-", "_")
    return (f"{r['rows']:>9,} | {r['batch']:>5} | {r['dp_users_per_s']:>10.0f} | {r['opacus_users_per_s']:>14.0f} | "
            f"{r[f'{fastest}_users_per_s']:>9.0f} ({r['fastest_non_dp'][8:]:>6}) | {r['dp_over_fastest']:>10.3f} | "
            f"{r['opacus_over_fastest']:>14.3f} | {r['dp_peak_mib']:>7.0f} | {r['opacus_peak_mib']:>10.0f} | "
            f"{r[f'{fastest}_peak_mib']:>11.0f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 5_000_000])
    parser.add_argument("--batch-size", type=int, nargs="+", default=[256, 4096])
    parser.add_argument("--steps", type=int, help="timed steps (default: max(6, 16384 / batch))")
    parser.add_argument("--device", default="cpu", help="auto (a GPU when there is one), cpu or cuda")
    parser.add_argument("--json", action="store_true", help="one JSON object per configuration on stdout")
    args = parser.parse_args(argv)
    device = str(resolve_device(args.device))
    if not args.json:
        print(f"DLRM training throughput on {device}, torch threads {torch.get_num_threads()}")
        print(HEADER)
        print("-" * len(HEADER))
    for rows in args.rows:
        for batch in args.batch_size:
            steps = args.steps or max(6, USERS_PER_RUN // batch)
            record = configuration(rows, batch, steps, device)
            print(json.dumps(record) if args.json else table_row(record), flush=True)


if __name__ == "__main__":
    main()
