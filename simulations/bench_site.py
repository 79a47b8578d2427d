"""One partner at retail scale: a deployed site's whole DP round, stage by stage, with its peak memory.

    python -m simulations.bench_site [--users 1000000] [--items 100000 1000000] [--events-per-user 20]
                                     [--eval-users 2000] [--device auto|cpu|cuda] [--memory-limit-gb 12]
                                     [--work-dir sweeps/bench-site] [--json]

For each item count the site runs as a SuperNode does (``client.site``'s
deployed path: an events file and a declared catalogue, ``expected-users``
declared, ``item-buckets`` = the item count, DP on, ``target-delta`` the
power of ten at most 1 / (10 x users), every other setting the app's
default), in a fresh child process that is stopped once its resident
memory passes ``--memory-limit-gb``:

- ``load``: the events file read, checked and split into the site's users
  (``load_federated_data`` with the catalogue, ``check_sites_can_train``);
- ``prior``: the pre-flight release, the DP-noised item counts (ledgered);
- ``examples``: the DLRM's and the profile model's training examples;
- ``train profile``, ``train dlrm``: Poisson-sampled DP-SGD over every user,
  each release accounted and appended to the site's ledger;
- ``evaluate``: the federated evaluation's per-user NDCG@K by full ranking
  over the catalogue (what the site computes before it noises the sums),
  timed on ``--eval-users`` users and scaled to all users: full ranking of
  1M users over 100k items is 10^11 scores, the figure says what it costs.

Each stage prints its seconds and the process's peak resident memory so far
(``ru_maxrss``). The synthetic events (``recmodel.data.synthetic``, written
chunk by chunk, not timed) and the results (``bench-site.json``) go to the
work directory; a second invocation reuses the events file.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

from simulations.bench_scale import resident_mib

USER_ATTRIBUTES = "user_age_group,user_gender,user_region"
REFERENCE_TIME = 1_700_000_000.0 + 120 * 86_400.0  # after every synthetic event (START_TIMESTAMP + 120 days)
USERS_PER_CHUNK = 100_000
PARTNER = "bench-site"


def peak_mib() -> float:
    """This process's peak resident memory so far, MiB (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def site_delta(users: int) -> float:
    """The largest power of ten at most 1 / (10 x users): the delta a site of ``users`` users would declare."""
    return 10.0 ** -math.ceil(math.log10(10 * users))


def write_site_data(work_dir: Path, *, users: int, items: int, events_per_user: float) -> tuple[Path, Path]:
    """The site's events file and the declared catalogue (parquet), written once per size and reused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from recmodel.data.synthetic import SyntheticSpec, generate_event_chunks, synthetic_catalogue

    spec = SyntheticSpec(users=users, items=items, partners=1, mean_interactions=events_per_user)
    stem = f"users{users}-items{items}-events{events_per_user:g}"
    events_path, catalogue_path = work_dir / f"{stem}.parquet", work_dir / f"{stem}-catalogue.parquet"
    if not catalogue_path.is_file():
        synthetic_catalogue(spec).to_parquet(catalogue_path, index=False)
    if events_path.is_file():
        return events_path, catalogue_path
    partial = events_path.with_suffix(".partial")
    writer = None
    started = time.perf_counter()
    for chunk in generate_event_chunks(spec, USERS_PER_CHUNK):
        table = pa.Table.from_pandas(chunk.drop(columns=["latent_favourites"]), preserve_index=False)
        writer = writer or pq.ParquetWriter(partial, table.schema)
        writer.write_table(table)
        print(f"  events: {chunk['user_id'].iloc[-1]} written ({time.perf_counter() - started:.0f} s)", flush=True)
    writer.close()
    partial.rename(events_path)
    return events_path, catalogue_path


def measure_site_round(events_path: Path, catalogue_path: Path, *, users: int, items: int, eval_users: int,
                       device: str, state_dir: Path) -> dict:
    """Seconds and peak MiB after each stage of one deployed site's DP round (runs in the calling process)."""
    import numpy as np
    import torch

    from recmodel.data.federated import check_sites_can_train, declared_model_spec, load_federated_data
    from recmodel.model.bundle import Recommender
    from recmodel.private_evaluation import per_user_ranking
    from recmodel.private_popularity import answer_popularity
    from recmodel.privacy.item_counts import prior_from_counts
    from recmodel.training.private_round import run_private_round
    from recmodel.training.release_plan import evaluation_releases
    from simulations.defaults import default_run_config

    config = default_run_config(dataset=str(events_path), item_buckets=items, user_attributes=USER_ATTRIBUTES,
                                reference_time=REFERENCE_TIME, device=device, target_delta=site_delta(users))
    stages: list[dict] = []
    clock = [time.perf_counter()]

    def stage_done(name: str, **facts) -> None:
        now = time.perf_counter()
        stages.append({"stage": name, "seconds": round(now - clock[0], 2), "peak_mib": round(peak_mib()), **facts})
        clock[0] = now
        print(f"  {name:<14} {stages[-1]['seconds']:9.1f} s   peak {stages[-1]['peak_mib']:7,} MiB"
              + "".join(f"   {k} {v}" for k, v in facts.items()), flush=True)

    data = load_federated_data(config, num_partitions=1, catalogue_path=str(catalogue_path))
    check_sites_can_train(config, data)
    site_users = data.site_users(0)
    stage_done("load", users=len(site_users), items=len(data.catalogue))

    evaluations = evaluation_releases(config, metrics="all")
    common = dict(state_dir=state_dir, partner=PARTNER, run_id="bench-site#1", max_epsilon=config.max_epsilon,
                  evaluations=evaluations, population=users)
    torch.manual_seed(config.seed)
    model = Recommender(declared_model_spec(config))
    answer = answer_popularity(data.catalogue, site_users, config, **common)
    with torch.no_grad():
        model.dlrm.item_prior.copy_(torch.from_numpy(prior_from_counts(answer.counts)))
    stage_done("prior", epsilon=round(answer.epsilon, 3))

    outcome = run_private_round(model, data.catalogue, site_users, config, server_round=1, stage_done=stage_done,
                                **common)
    stages[-1].update(steps=outcome.steps, epsilon=round(outcome.epsilon, 3))

    sample = np.random.default_rng(0).choice(len(site_users), size=min(eval_users, len(site_users)), replace=False)
    ndcg = per_user_ranking(model, data.catalogue, site_users.subset(np.sort(sample)), config)["ndcg"]
    seconds = time.perf_counter() - clock[0]
    stage_done(f"evaluate {len(sample)}", ndcg=round(float(ndcg.mean()), 4))
    stages.append({"stage": "evaluate (all users, scaled)", "seconds": round(seconds * len(site_users) / len(sample)),
                   "peak_mib": stages[-1]["peak_mib"], "scaled_from_users": int(len(sample))})
    return {"users": users, "items": items, "events": int(len(site_users.train_items)), "device": config.device,
            "steps": outcome.steps, "epsilon": outcome.epsilon, "stages": stages,
            "round_seconds": round(sum(s["seconds"] for s in stages if not s["stage"].startswith("evaluate"))
                                   + stages[-1]["seconds"]),
            "peak_mib": max(s["peak_mib"] for s in stages)}


def _child(queue, kwargs: dict) -> None:
    try:
        queue.put(measure_site_round(**kwargs))
    except MemoryError:
        queue.put({"error": "out of memory (MemoryError)"})
    except Exception as error:  # noqa: BLE001 -- reported with the configuration, the next one still runs
        queue.put({"error": f"{type(error).__name__}: {error}"})


def run_in_child(memory_limit_gb: float, **kwargs) -> dict:
    """``measure_site_round`` in a fresh process (its own peak memory), stopped (SIGKILL) as soon as its resident
    memory passes ``memory_limit_gb``: the bound holds for real memory, not only for what Python allocates."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue, kwargs))
    child.start()
    limit_mib = memory_limit_gb * 1024
    while child.is_alive():
        child.join(timeout=0.25)
        if resident_mib([child.pid]) > limit_mib:
            child.kill()
            child.join()
            return {"error": f"stopped: resident memory passed --memory-limit-gb {memory_limit_gb:g}"}
    if not queue.empty():
        return queue.get()
    return {"error": f"the measuring process died (exit {child.exitcode})"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--events-per-user", type=float, default=20.0,
                        help="mean distinct items per user before the event funnel (synthetic generator)")
    parser.add_argument("--eval-users", type=int, default=2_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--memory-limit-gb", type=float, default=12.0)
    parser.add_argument("--work-dir", type=Path, default=Path("sweeps/bench-site"))
    parser.add_argument("--json", action="store_true", help="print one JSON object per item count")
    args = parser.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for items in args.items:
        print(f"bench_site: {args.users:,} users, {items:,} items", flush=True)
        events_path, catalogue_path = write_site_data(args.work_dir, users=args.users, items=items,
                                                      events_per_user=args.events_per_user)
        state_dir = args.work_dir / f"state-{args.users}-{items}-{time.strftime('%Y%m%d-%H%M%S')}"
        result = run_in_child(args.memory_limit_gb, events_path=events_path, catalogue_path=catalogue_path,
                              users=args.users, items=items, eval_users=args.eval_users, device=args.device,
                              state_dir=state_dir)
        result.update(users=args.users, items=items, memory_limit_gb=args.memory_limit_gb)
        results.append(result)
        if "error" in result:
            print(f"  FAILED: {result['error']}", flush=True)
        else:
            print(f"  one round: {result['round_seconds']:,} s (evaluation scaled to all users), "
                  f"peak {result['peak_mib']:,} MiB, {result['steps']} DP-SGD steps, epsilon {result['epsilon']:.3f}",
                  flush=True)
        if args.json:
            print(json.dumps(result), flush=True)
    (args.work_dir / "bench-site.json").write_text(json.dumps(results, indent=1))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
