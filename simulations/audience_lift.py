"""How much better than a random audience a campaign audience is: held-out next items found in the audience.

    python -m simulations.audience_lift runs/<run> --size 500 --targets 100

The run's data set (its ``config.json``: the synthetic default or its events file), split as the run split it:
each user's held-out test item is the next item that user acts on; histories are the training items only. For
``--targets`` items (the most frequent held-out items, each the next item of several users), the audience of
``--size`` customers (``recmodel.audiences``, customers who already had the item left out) is compared with the
users whose held-out item it is. Lift = hits in the audiences / hits expected of random audiences of the same
size drawn from the same eligible customers. Prints the lift for items and for categories; writes
``<run>/audience_lift.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from recmodel.audiences import PAIRS_PER_BLOCK, already_acted, log_probabilities, top_audience
from recmodel.cli.arguments import positive_int
from recmodel.config import RunConfig
from recmodel.data.federated import load_federated_data
from recmodel.data.interactions import with_model_categories
from recmodel.model.bundle import site_profiles
from recmodel.model.model_file import load_model
from recmodel.model.served_model import served_model


def lift(run: Path, size: int, targets: int) -> dict:
    served = served_model(run)
    saved = load_model(served.folder)
    recorded = json.loads((Path(run) / "config.json").read_text())
    config = RunConfig.from_mapping(recorded["run_config"])
    data = load_federated_data(config, num_partitions=int(recorded["num_partners"]))
    users, model = data.users, saved.model
    catalogue = with_model_categories(data.catalogue, saved.category_names, config.category_buckets)
    profiles = site_profiles(model, catalogue, users, config)
    block = max(1, PAIRS_PER_BLOCK // len(catalogue))  # every customer's log-probabilities once [U, N] (float32)
    logp = torch.cat([log_probabilities(model.dlrm, catalogue, users, config.history_length,
                                        np.arange(start, min(len(users), start + block)), profiles).float()
                      for start in range(0, len(users), block)])
    result = {}
    for kind in ("item", "category"):
        held_out = users.test_item if kind == "item" else catalogue.category_rows[users.test_item]
        values, counts = np.unique(held_out, return_counts=True)
        hits = expected = 0.0
        for value in values[np.argsort(-counts, kind="stable")][:targets]:
            items = np.array([value]) if kind == "item" else np.flatnonzero(catalogue.category_rows == value)
            excluded = already_acted(users, items) if kind == "item" else np.zeros(len(users), dtype=bool)
            scores = torch.logsumexp(logp[:, items], dim=1).double().numpy()  # = audience_scores, from the cache
            audience = top_audience(scores, size, excluded)
            relevant = (held_out == value) & ~excluded
            hits += relevant[audience].sum()
            expected += relevant.sum() * len(audience) / max(1, (~excluded).sum())
        result[kind] = {"targets": int(min(targets, len(values))), "audience_size": size, "hits": float(hits),
                        "random_expected": float(expected), "lift": float(hits / expected) if expected else None}
    return {"model": served.to_dict(), "users": len(users), **result}


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("run", type=Path, help="a finished simulated run directory")
    cli.add_argument("--size", type=positive_int, default=500, help="customers per audience (default 500)")
    cli.add_argument("--targets", type=positive_int, default=100, help="items (and categories) measured (default 100)")
    args = cli.parse_args(argv)
    started = time.monotonic()
    result = lift(args.run, args.size, args.targets)
    result["seconds"] = round(time.monotonic() - started, 1)
    (args.run / "audience_lift.json").write_text(json.dumps(result, indent=2))
    print(f"model: {result['model']['why']}; {result['users']:,} users")
    for kind in ("item", "category"):
        figures = result[kind]
        print(f"{kind} audiences ({figures['targets']} targets, {args.size} customers each): "
              f"{figures['hits']:.0f} customers whose held-out next {kind} it is found, "
              f"{figures['random_expected']:.1f} expected at random: lift {figures['lift']:.2f}x")
    print(f"{result['seconds']:.0f} s; wrote {args.run / 'audience_lift.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
