"""Requests per second and latency of ``fedrec serve`` at 1k and 100k catalogue items (real HTTP, uvicorn).

    python -m simulations.bench_serve --work-dir bench-serve

For each catalogue size: a synthetic site log (``--users`` users), a model of the default architecture saved as
a run directory (its weights do not change the cost), the HTTP service on a free local port in this process,
and ``--requests`` sequential requests over one keep-alive connection per endpoint: top-10 for a known customer,
top-10 for a posted 5-item session, top-10 for a new visitor (cold start), 10 similar items. Prints p50 / p99
latency (ms) and requests/s per endpoint; writes ``<work-dir>/bench_serve.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import uvicorn

from recmodel.cli.arguments import positive_int
from recmodel.data.federated import load_federated_data, model_spec_for
from recmodel.data.synthetic import SyntheticSpec, generate_events
from recmodel.http_service import create_app
from recmodel.model.bundle import Recommender
from recmodel.processes import free_port
from recmodel.site_recommender import SiteRecommender
from server.run_directory import RunDirectory
from simulations.defaults import default_run_config


def prepare_site(work: Path, items: int, users: int) -> tuple[Path, Path, list[str], list[str]]:
    """(run dir, events file, some user ids, some item ids) for a site with ``items`` catalogue items."""
    folder = work / f"items-{items}"
    events = generate_events(SyntheticSpec(users=users, items=items, categories=50, partners=1, seed=0))
    events = with_every_item(events, items)
    events_file = folder / "events.parquet"
    folder.mkdir(parents=True, exist_ok=True)
    events.to_parquet(events_file, index=False)
    config = default_run_config(dataset=str(events_file), output_dir=str(folder), run_name="run")
    data = load_federated_data(config, num_partitions=1)
    torch.manual_seed(0)
    model = Recommender(model_spec_for(config, data))
    run = RunDirectory.create(config)
    run.save_model(model.state_dict(), model.spec, config, item_ids=data.catalogue.item_ids)
    return run.path, events_file, list(data.users.user_ids[:50]), list(data.catalogue.item_ids[:50])


def with_every_item(events: pd.DataFrame, items: int) -> pd.DataFrame:
    """``events`` plus one view of every synthetic item nobody touched (by a random user), so the site's
    catalogue holds all ``items`` items (a popularity-skewed log leaves most of a large catalogue untouched)."""
    ids = np.array([f"i{i:06d}" for i in range(items)])
    missing = ids[~np.isin(ids, events["item_id"].unique())]
    if not len(missing):
        return events
    rng = np.random.default_rng(1)
    donors = events.iloc[rng.integers(len(events), size=len(missing))].copy()
    donors["item_id"], donors["event"] = missing, "view"
    donors["category"] = [f"cat{int(rng.integers(50)):02d}" for _ in range(len(missing))]
    return pd.concat([events, donors], ignore_index=True)


def timed(port: int, requests: list[tuple[str, str, dict | None]]) -> list[float]:
    """Seconds per request, sent one after another over one keep-alive connection (each must answer 200)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    seconds = []
    for method, path, body in requests:
        payload = json.dumps(body).encode() if body is not None else None
        started = time.perf_counter()
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        seconds.append(time.perf_counter() - started)
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}")
    connection.close()
    return seconds


def bench(items: int, users: int, count: int, work: Path) -> dict:
    run_dir, events_file, user_ids, item_ids = prepare_site(work, items, users)
    loading = time.perf_counter()
    site = SiteRecommender.load(run_dir, events_file)
    loaded_s = time.perf_counter() - loading
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(site), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    rng = np.random.default_rng(0)
    pick = lambda ids: ids[int(rng.integers(len(ids)))]  # noqa: E731
    endpoints = {
        "known customer": lambda: ("GET", f"/users/{pick(user_ids)}/recommendations?k=10", None),
        "posted session": lambda: ("POST", "/recommendations",
                                   {"items": [pick(item_ids) for _ in range(5)], "k": 10}),
        "new visitor": lambda: ("GET", f"/users/visitor-{int(rng.integers(10**9))}/recommendations?k=10", None),
        "similar items": lambda: ("GET", f"/items/{pick(item_ids)}/similar?k=10", None),
    }
    figures = {}
    try:
        for name, make in endpoints.items():
            timed(port, [make() for _ in range(3)])  # warm-up
            seconds = np.array(timed(port, [make() for _ in range(count)]))
            figures[name] = {"p50_ms": round(1000 * float(np.percentile(seconds, 50)), 2),
                             "p99_ms": round(1000 * float(np.percentile(seconds, 99)), 2),
                             "requests_per_s": round(count / float(seconds.sum()), 1)}
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return {"items": len(site.catalogue), "users": len(site.users), "load_s": round(loaded_s, 2),
            "endpoints": figures}


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--sizes", default="1000,100000", help="catalogue sizes (default 1000,100000)")
    cli.add_argument("--users", type=positive_int, default=5000, help="users of the site's log (default 5000)")
    cli.add_argument("--requests", type=positive_int, default=200, help="timed requests per endpoint (default 200)")
    cli.add_argument("--work-dir", type=Path, default=Path("bench-serve"), help="default ./bench-serve")
    args = cli.parse_args(argv)
    torch.set_num_threads(1)  # one request at a time: measure a single core's latency, leave the rest alone
    results = [bench(int(size), args.users, args.requests, args.work_dir.resolve()) for size in args.sizes.split(",")]
    print(f"{'items':>8} | {'endpoint':<15} | {'p50 ms':>7} | {'p99 ms':>7} | {'req/s':>7}")
    for result in results:
        for name, figure in result["endpoints"].items():
            print(f"{result['items']:>8} | {name:<15} | {figure['p50_ms']:>7.1f} | {figure['p99_ms']:>7.1f} | "
                  f"{figure['requests_per_s']:>7.1f}")
        print(f"{result['items']:>8} | loading the run and the site's log: {result['load_s']:.1f} s")
    target = args.work_dir / "bench_serve.json"
    target.write_text(json.dumps(results, indent=2))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
