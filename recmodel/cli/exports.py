"""``fedrec recommend`` and ``fedrec profile``: marketing outputs at a partner site, as files.

Both serve the run's selected model unless ``--model last`` (``recmodel.model.served_model``), say which on the
console, and write its round into every row (``model_round``)."""

from __future__ import annotations

import sys
from pathlib import Path

from recmodel.cli.arguments import add_served_run, positive_int
from recmodel.cli.output import write_atomically, write_parquet_atomically
from recmodel.cli.output_paths import checked_output
from recmodel.config import DEVICES

FORCE_HELP = "replace existing outputs (atomically, once the new ones are complete)"

DEVICE_HELP = "where the model runs: auto (a CUDA GPU when torch sees one, else the CPU; default), cpu or cuda"

PAIRS_PER_BLOCK = 32_768  # users x items scored per forward pass (larger blocks thrash memory)


def register(commands) -> None:
    rec = commands.add_parser(
        "recommend", help="top-K recommendations per user with a run's global model",
        description="Top-K recommendations for the users of a partner's events file, ranked by a finished run's "
                    "model (the round validation selected, unless --model last). Items the user has seen are "
                    "skipped unless --keep-seen; items the run never trained on are never recommended.")
    add_served_run(rec)
    rec.add_argument("--top-k", type=positive_int, default=10, help="recommendations per user (default: 10)")
    rec.add_argument("--out", required=True, help="CSV: user_id, item_id, [title, category,] rank, score, "
                                                  "model_round (title and category when --data has those columns)")
    rec.add_argument("--force", action="store_true", help=FORCE_HELP)
    rec.add_argument("--users", help="comma-separated user ids (default: every user in --data)")
    rec.add_argument("--keep-seen", action="store_true", help="also recommend items the user already interacted with")
    lists = rec.add_mutually_exclusive_group()
    lists.add_argument("--buy-again", action="store_true",
                       help="each user's own past items, most likely to be bought again first (recmodel.buy_again)")
    lists.add_argument("--mixed", action="store_true",
                       help="buy-again and new items, in the slots the site's own held-out purchases favour")
    rec.add_argument("--verbose", action="store_true", help="list the unknown items and users, not just their counts")
    rec.add_argument("--device", choices=DEVICES, default="auto", help=DEVICE_HELP)
    rec.set_defaults(handler=run_recommend)

    aud = commands.add_parser(
        "audience", help="the customers most likely to act on an item or a category (a campaign audience)",
        description="The --size customers of a partner's events file most likely to act on --item or on any item of "
                    "--category (the model's log-probability of the target among the catalogue), best first, with "
                    "their score and profile segment. Customers who already interacted with every target item are "
                    "left out unless --include-past.")
    add_served_run(aud)
    target = aud.add_mutually_exclusive_group(required=True)
    target.add_argument("--item", help="an item id of --data")
    target.add_argument("--category", help="a category of --data")
    aud.add_argument("--size", type=positive_int, default=1000, help="customers in the audience (default 1000)")
    aud.add_argument("--include-past", action="store_true", help="also customers who already interacted with it")
    aud.add_argument("--out", required=True, help="CSV: user_id, rank, score, [segment,] model_round")
    aud.add_argument("--force", action="store_true", help=FORCE_HELP)
    aud.set_defaults(handler=run_audience)

    prof = commands.add_parser(
        "profile", help="user profiles, interests and segments with a run's profile model",
        description="Per user of a partner's events file: the profile embedding, top interest categories, a "
                    "k-means segment and recency/frequency/spend; per segment: size, medians, over-represented "
                    "categories and a plain-language description (<out>_segments.csv and .png).")
    add_served_run(prof)
    prof.add_argument("--out", required=True, help="Parquet, one row per user (with model_round); "
                                                   "<out>_segments.csv/.png beside it")
    prof.add_argument("--segments", type=positive_int, default=6, help="number of user segments, at most the "
                                                                       "number of users (default: 6)")
    prof.add_argument("--top-categories", type=positive_int, default=3,
                      help="categories listed per user (default: 3)")
    prof.add_argument("--seed", type=int, default=0, help="random seed of the segmentation (default: 0)")
    prof.add_argument("--force", action="store_true", help=FORCE_HELP)
    prof.add_argument("--verbose", action="store_true", help="list the unknown items and users, not just their counts")
    prof.add_argument("--device", choices=DEVICES, default="auto", help=DEVICE_HELP)
    prof.set_defaults(handler=run_profile)


def report_unknowns(serving, verbose: bool) -> None:
    """Items of the site's file the run never trained on (not recommended), users with only such items."""
    items, users = serving.unknown_items, serving.users_without_known_items
    if len(items) or len(users):
        print(f"note: {len(items):,} item(s) in --data are not in the run's training catalogue (never recommended); "
              f"{len(users):,} user(s) interacted only with such items (scored from their attributes alone)")
        if verbose:
            print("unknown items: " + ", ".join(map(str, items)))
            print("users with only unknown items: " + ", ".join(map(str, users)))


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=" users", file=sys.stderr, disable=not sys.stderr.isatty())


def run_recommend(args) -> int:
    import numpy as np
    import pandas as pd
    import torch

    from recmodel.data.examples import candidates_batch
    from recmodel.data.schema import DataError
    from recmodel.device import on_device, resolve_device
    from recmodel.model.shared_candidates import score_shared_candidates
    from recmodel.serving import item_descriptions, load_for_serving

    device = resolve_device(args.device)
    out = checked_output(args.out, inputs=[args.run, args.data], suffixes=(".csv",), force=args.force)
    users_filter = [u.strip() for u in args.users.split(",")] if args.users else None
    if args.buy_again or args.mixed:
        return _repeat_lists(args, out, users_filter)
    serving = load_for_serving(args.run, args.data, users=users_filter, which=args.model)
    print(serving.served.console_line())
    catalogue, users = serving.catalogue, serving.users
    report_unknowns(serving, args.verbose)
    k = args.top_k
    if not 1 <= k <= len(catalogue):
        raise DataError(f"--top-k must be between 1 and the catalogue size {len(catalogue)} (got {k})")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    block = max(1, PAIRS_PER_BLOCK // len(catalogue))
    items = np.arange(len(catalogue))
    names = item_descriptions(serving.events, catalogue.item_ids)  # the file's title / category columns, if any
    try:
        with (tmp.open("w") as handle, _progress(len(serving.selected), "scoring") as bar, torch.no_grad(),
              on_device(serving.model.dlrm, device)):
            handle.write(",".join(["user_id", "item_id", *names.columns, "rank", "score", "model_round"]) + "\n")
            for start in range(0, len(serving.selected), block):
                rows = serving.selected[start:start + block]
                batch = candidates_batch(catalogue, users, rows, items, serving.config.history_length, serving.profiles)
                scores = score_shared_candidates(serving.model.dlrm, batch.to(device)).cpu().numpy().astype(np.float64)
                scores[:, ~serving.known_items] = -np.inf
                if not args.keep_seen:
                    for i, u in enumerate(rows):
                        scores[i, users.train_items_of(u)] = -np.inf
                top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
                order = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1), 1)
                best = np.take_along_axis(scores, order, 1)
                frame = pd.DataFrame({
                    "user_id": np.repeat(users.user_ids[rows], k),
                    "item_id": catalogue.item_ids[order].ravel(),
                    **{column: names[column].to_numpy()[order].ravel() for column in names.columns},
                    "rank": np.tile(np.arange(1, k + 1), len(rows)),
                    "score": best.ravel(),
                    "model_round": serving.served.round if serving.served.round is not None else "",
                })
                frame = frame[np.isfinite(frame["score"])]  # a user who has seen everything gets fewer rows
                frame.to_csv(handle, header=False, index=False, float_format="%.6f")
                bar.update(len(rows))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote top-{k} recommendations for {len(serving.selected):,} users to {out}")
    return 0


def _repeat_lists(args, out, users_filter) -> int:
    """``--buy-again`` / ``--mixed``: one list per user from ``SiteRecommender`` (on the CPU, one user at a time)."""
    import pandas as pd

    from recmodel.site_recommender import SiteRecommender

    site = SiteRecommender.load(args.run, args.data, which=args.model)
    print(site.serving.served.console_line())
    call = site.buy_again if args.buy_again else site.mixed
    user_ids = users_filter or [str(u) for u in site.users.user_ids]
    frames = []
    with _progress(len(user_ids), "buy again" if args.buy_again else "mixed") as bar:
        for user_id in user_ids:
            answer = call(user_id, args.top_k)
            frame = pd.DataFrame(answer["items"])
            frame.insert(0, "user_id", user_id)
            frame["model_round"] = answer["model_round"]
            frames.append(frame)
            bar.update(1)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    write_atomically(out, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6f"))
    print(f"wrote {'buy-again' if args.buy_again else 'mixed'} lists (top {args.top_k}) for {len(user_ids):,} users "
          f"to {out}")
    return 0


def run_audience(args) -> int:
    import pandas as pd

    from recmodel.site_recommender import SiteRecommender

    out = checked_output(args.out, inputs=[args.run, args.data], suffixes=(".csv",), force=args.force)
    site = SiteRecommender.load(args.run, args.data, which=args.model)
    print(site.serving.served.console_line())
    answer = site.audience(item_id=args.item, category=args.category, size=args.size, include_past=args.include_past)
    table = pd.DataFrame(answer["customers"])
    table["model_round"] = answer["model_round"]
    write_atomically(out, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6f"))
    target = f"item {args.item}" if args.item else f"category {args.category}"
    print(f"wrote an audience of {len(table):,} customers for {target} to {out}")
    return 0


def run_profile(args) -> int:
    import numpy as np
    import pandas as pd

    from recmodel.customer_value import category_shares, customer_value
    from recmodel.data.category_names import category_row_names
    from recmodel.data.schema import DataError
    from recmodel.device import on_device, resolve_device
    from recmodel.segment_descriptions import distinctive_categories, summarise_segments
    from recmodel.segments import kmeans
    from recmodel.serving import load_for_serving

    device = resolve_device(args.device)  # before any work: a GPU that is not there is a one-line error
    out = checked_output(args.out, inputs=[args.run, args.data], suffixes=(".parquet",), force=args.force)
    summary_path = out.with_name(out.stem + "_segments.csv")
    plot_path = out.with_name(out.stem + "_segments.png")
    for side in (summary_path, plot_path):
        checked_output(side, inputs=[args.run, args.data], force=args.force, option="--out (beside it)")
    serving = load_for_serving(args.run, args.data, which=args.model)
    print(serving.served.console_line())
    report_unknowns(serving, args.verbose)
    if args.segments > len(serving.users):
        raise DataError(f"--segments {args.segments}: more segments than the {len(serving.users)} users in {args.data}")
    model = serving.model
    if model.profile is None:
        raise DataError(f"{args.run}: this run trained no profile model (profiles=false)")
    import torch

    with torch.no_grad(), on_device(model.profile, device):
        _, logits, embedding = model.profile(torch.from_numpy(serving.summaries.features).to(device))
        interest = torch.softmax(logits, dim=1).cpu().numpy()
    embedding = embedding.cpu().numpy()
    names = category_row_names(serving.catalogue, interest.shape[1])
    top = np.argsort(-interest, axis=1)[:, : args.top_categories]
    segments = kmeans(embedding, args.segments, seed=args.seed)
    value = customer_value(serving.events, serving.users.user_ids)
    shares = category_shares(serving.events, serving.users.user_ids)
    table = pd.DataFrame({
        "user_id": serving.users.user_ids,
        "segment": segments,
        "top_categories": ["|".join(f"{names[j]}:{interest[i, j]:.3f}" for j in top[i]) for i in range(len(top))],
        "distinctive_categories": ["|".join(f"{name}:{own:.3f}:{everyone:.3f}" for name, own, everyone in found)
                                   for found in distinctive_categories(shares, args.top_categories)],
        "profile": list(embedding.astype(np.float32)),
        "model_round": pd.array([serving.served.round] * len(embedding), dtype="Int64"),  # <NA>: not recorded
    })
    table = pd.concat([table, value], axis=1)
    write_parquet_atomically(table, out)
    summary = summarise_segments(segments, args.segments, value, shares)
    write_atomically(summary_path, lambda tmp: summary.to_csv(tmp, index=False, float_format="%.4g"))
    write_atomically(plot_path, lambda tmp: _plot_segments(embedding, segments, summary, tmp))
    print(f"wrote {len(table):,} profiles to {out}, {args.segments} segments to {summary_path}, plot {plot_path}")
    return 0


def _plot_segments(embedding, segments, summary, target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from recmodel.segments import project_2d

    xy, explained = project_2d(embedding)
    fig, axis = plt.subplots(figsize=(9, 6))
    for s in range(segments.max() + 1):
        members = segments == s
        top = summary["top_categories"].iloc[s] if "top_categories" in summary else ""
        top = top.split(" (")[0] if isinstance(top, str) else ""
        axis.scatter(xy[members, 0], xy[members, 1], s=6,
                     label=f"segment {s}: {members.sum():,} users" + (f", most over-represented: {top}" if top else ""))
    axis.set(xlabel=f"profile direction 1 ({explained[0]:.0%} of profile variance)",
             ylabel=f"profile direction 2 ({explained[1]:.0%} of profile variance)",
             title="users by profile embedding (2-D principal components), coloured by segment\n"
                   "nearby users have similar predicted interests; see the segments CSV for what sets each apart")
    axis.legend(fontsize=7, markerscale=2, loc="best")
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
