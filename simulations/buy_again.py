"""Buy again on a real purchase log: new-item lists, buy-again lists and the mixed list against their baselines.

    python -m simulations.buy_again ../shared/data/online-retail/online_retail_train.parquet --work-dir buy-again

The UCI Online Retail log (raw columns), purchases of known customers only (Quantity > 0, no "C" invoices, one
event per invoice and item). Each customer's last purchase is held out; the model (the app's defaults without
privacy: this measures the lists, not the privacy cost) trains on the rest for ``--rounds`` local rounds at one
site. Every list is scored on the held-out item with HR@10 and NDCG@10, over all customers with a history:

- ``popularity`` and ``model (new items)``: lists that skip seen items (what ``fedrec recommend`` gives);
- ``repeat frequency``: the customer's past items by times bought, latest first (the buy-again baseline);
- ``buy again``: ``recmodel.buy_again.repeat_scores`` (``SiteRecommender.buy_again``);
- ``mixed``: ``SiteRecommender.mixed``, buy-again and new items in the slots the site's own held-out
  purchases favour;
- ``mixed (frequency)``: the same mix with the repeat-frequency list, to separate the two parts.

Writes ``<work-dir>/buy_again.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recmodel.buy_again import frequency_order, mixed_list, purchase_histories, repeat_share
from recmodel.cli.arguments import positive_int
from recmodel.data.federated import load_federated_data, model_spec_for
from recmodel.model.bundle import Recommender
from recmodel.site_recommender import SiteRecommender
from recmodel.training.private_round import run_private_round
from server.run_directory import RunDirectory
from simulations.defaults import default_run_config

K = 10


def purchases(raw_file: Path) -> pd.DataFrame:
    """Events of known customers' purchases: user_id, item_id, event, timestamp (s), price; one per invoice and
    item, in time order."""
    raw = pd.read_parquet(raw_file)
    keep = raw["CustomerID"].notna() & (raw["Quantity"] > 0) & ~raw["InvoiceNo"].astype(str).str.startswith("C")
    raw = raw[keep].drop_duplicates(["InvoiceNo", "StockCode"])
    return pd.DataFrame({
        "user_id": raw["CustomerID"].astype(int).astype(str), "item_id": raw["StockCode"].astype(str),
        "event": "purchase", "timestamp": pd.to_datetime(raw["InvoiceDate"]).astype("int64") / 1e9,
        "price": raw["UnitPrice"].astype(float)}).sort_values(["timestamp", "item_id"], kind="stable")


def held_out_last(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """(every purchase but each customer's last, the last purchase's item per customer with a history)."""
    last_index = events.groupby("user_id").tail(1).index
    history = events.drop(index=last_index)
    targets = events.loc[last_index].set_index("user_id")["item_id"]
    return history, targets[targets.index.isin(set(history["user_id"]))]


def train(history_file: Path, work: Path, rounds: int) -> Path:
    config = default_run_config(dataset=str(history_file), dp=False, profiles=False, popularity_prior=False,
                                output_dir=str(work), run_name="model")
    data = load_federated_data(config, num_partitions=1)
    torch.manual_seed(0)
    model = Recommender(model_spec_for(config, data))
    for server_round in range(1, rounds + 1):
        run_private_round(model, data.catalogue, data.site_users(0), config, state_dir=work / "state",
                          partner="site", run_id="buy-again", server_round=server_round, max_epsilon=10.0)
    run = RunDirectory.create(config)
    run.save_model(model.state_dict(), model.spec, config, item_ids=data.catalogue.item_ids)
    return run.path


def scores_of(lists: dict[str, list[str]], target: str) -> dict[str, tuple[float, float]]:
    """{list name: (hit, NDCG gain)} of one customer's held-out ``target``."""
    result = {}
    for name, items in lists.items():
        rank = items.index(target) if target in items[:K] else None
        result[name] = (0.0, 0.0) if rank is None else (1.0, 1.0 / np.log2(rank + 2.0))
    return result


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("raw", type=Path, help="online_retail_train.parquet (the UCI columns)")
    cli.add_argument("--rounds", type=positive_int, default=5, help="local training rounds (default 5)")
    cli.add_argument("--work-dir", type=Path, default=Path("buy-again"), help="default ./buy-again")
    args = cli.parse_args(argv)
    started = time.monotonic()
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    history, targets = held_out_last(purchases(args.raw))
    history_file = work / "history.parquet"
    history.to_parquet(history_file, index=False)
    run_dir = train(history_file, work, args.rounds)
    site = SiteRecommender.load(run_dir, history_file)
    histories = purchase_histories(history, site.users.user_ids, site.catalogue.item_ids)
    share = repeat_share(histories, len(site.catalogue))
    popular = list(history["item_id"].value_counts().index[: K + 200])
    totals: dict[str, list[float]] = {}
    repeats = 0
    for user_id, target in targets.items():
        past = histories.of(site.row_of_user[user_id])
        seen = {str(site.catalogue.item_ids[p]) for p in past}
        repeats += target in seen
        new = [i["item_id"] for i in site.recommend(user_id, K)["items"]]
        frequency = [str(site.catalogue.item_ids[p]) for p in frequency_order(past)][:K]
        lists = {"popularity": [i for i in popular if i not in seen][:K], "model (new items)": new,
                 "repeat frequency": frequency, "buy again": [i["item_id"] for i in site.buy_again(user_id, K)["items"]],
                 "mixed": [i["item_id"] for i in site.mixed(user_id, K)["items"]],
                 "mixed (frequency)": mixed_list(frequency, new, site.mix_pattern(K))}
        for name, (hit, gain) in scores_of(lists, target).items():
            totals.setdefault(name, [0.0, 0.0])
            totals[name][0] += hit
            totals[name][1] += gain
    users = len(targets)
    result = {"customers": users, "held_out_repeats": repeats / users, "site_repeat_share": share,
              "mix_pattern": ["buy again" if slot else "new" for slot in site.mix_pattern(K)],
              "lists": {name: {"hr@10": hit / users, "ndcg@10": gain / users} for name, (hit, gain) in totals.items()},
              "seconds": round(time.monotonic() - started, 1)}
    (work / "buy_again.json").write_text(json.dumps(result, indent=2))
    print(f"{users:,} customers; {result['held_out_repeats']:.1%} of held-out purchases repeat an earlier item; "
          f"repeat share the site estimates from its own file: {share:.1%}; mixed slots: "
          + "".join("A" if slot else "n" for slot in site.mix_pattern(K)) + " (A: buy again, n: new)")
    print(f"{'list':<20} | {'HR@10':>7} | {'NDCG@10':>7}")
    for name, figures in result["lists"].items():
        print(f"{name:<20} | {figures['hr@10']:>7.4f} | {figures['ndcg@10']:>7.4f}")
    print(f"{result['seconds']:.0f} s; wrote {work / 'buy_again.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
