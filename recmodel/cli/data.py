"""``fedrec data``: synth, import, download, partition, describe."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from recmodel.cli.arguments import positive_int
from recmodel.cli.output import write_parquet_atomically
from recmodel.cli.output_paths import checked_output
from recmodel.data.bounds import MAX_TIMESTAMP, MIN_TIMESTAMP
from recmodel.errors import DataError

FORCE_HELP = "replace an existing output (atomically, once the new one is complete)"


def register(commands) -> None:
    data = commands.add_parser("data", help="create, import, partition and describe events files",
                               description="Events files in fedrec's schema (docs/data.md): write the synthetic "
                                           "log, import public or your own logs strictly, split and describe them.")
    sub = data.add_subparsers(dest="data_command", required=True)

    synth = sub.add_parser("synth", help="write the synthetic behaviour log",
                           description="Write the synthetic behaviour log; with the defaults it is the data "
                                       "`flwr run .` trains on.")
    synth.add_argument("--users", type=positive_int, default=10_000, help="number of users (default: 10000)")
    synth.add_argument("--items", type=positive_int, default=1_000, help="number of items (default: 1000)")
    synth.add_argument("--categories", type=positive_int, default=20, help="number of categories (default: 20)")
    synth.add_argument("--partners", type=positive_int, default=2, help="partner sites in partner_id (default: 2)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    synth.add_argument("--out", required=True, help="the events file to write (.parquet)")
    synth.add_argument("--force", action="store_true", help=FORCE_HELP)
    synth.set_defaults(handler=run_synth)

    imp = sub.add_parser("import", help="convert a public or generic log into the events schema (Parquet)",
                         description="Convert a public or generic log into the events schema (Parquet). Strict: "
                                     "the first bad row is named (file, line, column, value) unless "
                                     "--skip-bad-rows.")
    imp.add_argument("format", help="movielens-100k, movielens-1m, movielens-latest (or movielens-latest-small, as "
                                    "downloaded), retailrocket, taobao, csv, parquet")
    imp.add_argument("source", help="the source directory or file")
    imp.add_argument("--out", required=True, help="the events file to write (.parquet)")
    imp.add_argument("--force", action="store_true", help=FORCE_HELP)
    imp.add_argument("--skip-bad-rows", action="store_true", help="drop malformed rows (counted) instead of stopping")
    imp.add_argument("--chunk-rows", type=positive_int, default=500_000,
                     help="rows read per chunk (default: 500000)")
    for role in ("user", "item", "timestamp", "event", "partner", "category", "price"):
        imp.add_argument(f"--{role}", help=f"generic formats: source column holding {role}")
    imp.add_argument("--quantity", help="generic formats: source column holding the quantity: a row with quantity > 0 "
                                        "is a purchase (unless --event says otherwise), one with quantity <= 0 (a "
                                        "return or cancellation) is dropped and counted")
    imp.add_argument("--timestamp-unit", choices=["s", "ms", "iso"], default="s",
                     help="generic formats: unit of the timestamp column (default: s)")
    imp.add_argument("--min-timestamp", type=float, default=MIN_TIMESTAMP,
                     help=f"earliest plausible event, seconds since 1970 (default: {MIN_TIMESTAMP:g})")
    imp.add_argument("--max-timestamp", type=float, default=MAX_TIMESTAMP,
                     help=f"latest plausible event, seconds since 1970 (default: {MAX_TIMESTAMP:g}, 2100-01-01)")
    imp.add_argument("--user-attribute", action="append", default=[], help="generic: a user attribute column (repeatable)")
    imp.set_defaults(handler=run_import)

    down = sub.add_parser("download", help="download a MovieLens archive (needs internet), verify, extract",
                          description="Download a MovieLens archive from grouplens.org, verify its MD5, extract it.")
    down.add_argument("name", help="movielens-100k, movielens-1m or movielens-latest-small")
    down.add_argument("--dir", required=True, help="the directory to extract into")
    down.set_defaults(handler=run_download)

    part = sub.add_parser("partition", help="split an events file into one file per partner",
                          description="Split an events file into one file per partner: by its partner_id, by "
                                      "users at random, or skewed by category (Dirichlet).")
    part.add_argument("file", help="the events file to split (.parquet or .csv)")
    part.add_argument("--by", choices=["partner", "user", "dirichlet"], default="user",
                      help="partner: its partner_id column; user: users at random; dirichlet: categories skewed "
                           "by --alpha (default: user)")
    part.add_argument("--partners", type=positive_int, help="number of partner files (required with --by user or "
                                                            "dirichlet; --by partner: default one per partner_id)")
    part.add_argument("--alpha", type=float, default=0.5, help="dirichlet concentration; smaller is more skewed "
                                                               "(default: 0.5)")
    part.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    part.add_argument("--out", required=True, help="a new directory for partner-<k>.parquet and partitions.json")
    part.add_argument("--force", action="store_true", help=FORCE_HELP)
    part.set_defaults(handler=run_partition)

    desc = sub.add_parser("describe", help="users, items, events, per user and per partner",
                          description="Count users, items and events, per user and per partner; optionally plot "
                                      "the distributions.")
    desc.add_argument("file", help="the events file (.parquet or .csv)")
    desc.add_argument("--plot", help="write a PNG of the distributions here (.png)")
    desc.add_argument("--force", action="store_true", help=FORCE_HELP)
    desc.add_argument("--json", action="store_true", help="print the summary as JSON")
    desc.set_defaults(handler=run_describe)


def run_synth(args) -> int:
    from recmodel.data.synthetic import SyntheticSpec, generate_events

    out = checked_output(args.out, inputs=[], suffixes=(".parquet",), force=args.force)
    events = generate_events(SyntheticSpec(users=args.users, items=args.items, categories=args.categories,
                                           partners=args.partners, seed=args.seed))
    write_parquet_atomically(events, out)
    print(f"wrote {len(events):,} events ({args.users:,} users, {args.items:,} items, {args.partners} partners) "
          f"to {args.out}")
    return 0


def run_import(args) -> int:
    from recmodel.data.importers import ImportOptions, import_events

    checked_output(args.out, inputs=[args.source], suffixes=(".parquet",), force=args.force)
    mapping = {role: getattr(args, role) for role in ("user", "item", "timestamp", "event", "partner", "category", "price",
                                                      "quantity")}
    mapping.update(timestamp_unit=args.timestamp_unit, user_attributes=args.user_attribute)
    report = import_events(args.format, args.source, args.out,
                           ImportOptions(skip_bad_rows=args.skip_bad_rows, chunk_rows=args.chunk_rows, mapping=mapping,
                                         timestamp_bounds=(args.min_timestamp, args.max_timestamp)))
    print(f"{args.out}: {report.summary()}")
    return 0


def run_download(args) -> int:
    from recmodel.data.download import download

    folder = download(args.name, args.dir)
    print(f"downloaded, verified and extracted to {folder}")
    return 0


def run_partition(args) -> int:
    from recmodel.data.partition import assign_partners
    from recmodel.data.schema import load_events

    out = checked_output(args.out, inputs=[args.file], directory=True, force=args.force)
    if args.partners is None and args.by != "partner":
        raise DataError(f"--partners is required with --by {args.by}")
    events = load_events(args.file)
    if args.partners is None:
        if "partner_id" not in events:
            raise DataError(f"{args.file}: --by partner needs a partner_id column; use --by user or --by dirichlet")
        args.partners = int(events["partner_id"].nunique())
    assignment = assign_partners(events, by=args.by, partners=args.partners, alpha=args.alpha, seed=args.seed)
    site = events["user_id"].map(assignment).to_numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partition-", dir=out.parent))
    try:
        summary = {}
        for k in range(args.partners):
            part = events[site == k].copy()
            name = f"partner-{k}"
            if args.by != "partner":
                part["partner_id"] = name
            part.to_parquet(staging / f"{name}.parquet", index=False)
            summary[name] = {"users": int(part["user_id"].nunique()), "events": int(len(part))}
            if summary[name]["users"] == 0:
                raise DataError(f"{name} receives no user (--by {args.by} --alpha {args.alpha}); "
                                "raise --alpha or lower --partners")
        (staging / "partitions.json").write_text(json.dumps({"by": args.by, "alpha": args.alpha, "partners": summary}, indent=2))
        replaced = out.with_name(f".{out.name}.replaced")
        if out.exists():  # --force: the old output goes only once the new one is complete
            out.rename(replaced)
        staging.rename(out)
        shutil.rmtree(replaced, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for name, facts in summary.items():
        print(f"{name}: {facts['users']:,} users, {facts['events']:,} events -> {out / (name + '.parquet')}")
    return 0


def run_describe(args) -> int:
    from recmodel.data.describe import describe_events, plot_distributions

    if args.plot:
        checked_output(args.plot, inputs=[args.file], suffixes=(".png",), force=args.force, option="--plot")
    summary, per_user, events = describe_events(args.file)
    if args.plot:
        plot_distributions(per_user, events, Path(args.plot))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{summary['file']}: {summary['events']:,} events, {summary['users']:,} users, {summary['items']:,} items")
    print("events per user: " + ", ".join(f"{k} {v:.1f}" for k, v in summary["events_per_user"].items()))
    print("event types: " + ", ".join(f"{k} {v:,}" for k, v in summary["event_types"].items()))
    print(f"users with fewer than {summary['min_interactions']} distinct items (dropped at training): "
          f"{summary['users_below_min_interactions']:,}")
    for name, facts in summary.get("partners", {}).items():
        print(f"  {name}: {facts['users']:,} users, {facts['events']:,} events")
    if args.plot:
        print(f"plot: {args.plot}")
    return 0
