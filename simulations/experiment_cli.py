"""Shared command line and plot of the experiment sweeps (frontier, strategies, non_iid, partner_count)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from recmodel.cli.arguments import positive_int
from server.plots import BASELINE_STYLES
from simulations.sweep import Point, run_sweep

PUBLISHED = Path(__file__).resolve().parents[1] / "docs" / "results"  # the results the docs' table shows
PACKAGE_FOLDERS = tuple(Path(__file__).resolve().parents[1] / name
                        for name in ("simulations", "recmodel", "server", "client", "deploy"))


def parser(description: str, *, partners: int = 5) -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(description=description)
    cli.add_argument("--dataset", default="synthetic",
                     help="'synthetic' or an events file (e.g. from fedrec data import movielens-latest); default synthetic")
    cli.add_argument("--partners", type=positive_int, default=partners,
                     help=f"simulated partner sites (default {partners})")
    cli.add_argument("--seed", type=int, default=0, help="run-config seed of every point (default 0)")
    cli.add_argument("--run-config", default="", help='extra overrides for every point, e.g. "num-server-rounds=3"')
    cli.add_argument("--tag", default="", help="results name suffix (default: the data set's file stem)")
    cli.add_argument("--work-dir", type=Path, default=Path("sweeps"),
                     help="run directories, logs and results (<work-dir>/results/<experiment>-<tag>.csv/.png) of "
                          "the points (default ./sweeps)")
    return cli


def checked(args) -> argparse.Namespace:
    """Refuse, before any run starts, a data set that does not exist and a work dir inside the package."""
    if args.dataset != "synthetic" and not Path(args.dataset).is_file():
        raise SystemExit(f"--dataset {args.dataset}: no such events file (make one with fedrec data import ...)")
    work = args.work_dir.resolve()
    if any(work == folder or folder in work.parents for folder in PACKAGE_FOLDERS):
        raise SystemExit(f"--work-dir {args.work_dir}: inside the package; experiments write elsewhere")
    return args


def base_config(args) -> dict:
    base = {"seed": args.seed}
    if args.dataset != "synthetic":
        base["dataset"] = str(Path(args.dataset).resolve())
    for pair in args.run_config.split():
        key, _, value = pair.partition("=")
        base[key] = _literal(value)
    return base


def _literal(text: str):
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip("'\"")


def results_name(experiment: str, args) -> str:
    tag = args.tag or ("synthetic" if args.dataset == "synthetic" else Path(args.dataset).stem)
    return f"{experiment}-{tag}"


def run_experiment(experiment: str, points: list[Point], args, *, x: str, xlabel: str, log_x: bool = False,
                   base: dict | None = None) -> pd.DataFrame:
    """Run the sweep into ``<work-dir>/results/<experiment>-<tag>.csv`` and plot it beside (``.png``); copy
    both into docs/results and run ``python -m simulations.results_table`` to publish them."""
    checked(args)
    name = results_name(experiment, args)
    results = args.work_dir / "results"
    results.mkdir(parents=True, exist_ok=True)
    table = run_sweep(points, results / f"{name}.csv", base=base if base is not None else base_config(args),
                      work_dir=args.work_dir / name)
    counts = sorted({point.partners for point in points})
    partners = f"{counts[0]} partners" if len(counts) == 1 else f"{counts[0]}-{counts[-1]} partners"
    if not table["status"].isin(["succeeded", "degraded"]).any():
        print(f"wrote {results / (name + '.csv')}; no point succeeded, so there is no plot: each point's console "
              f"is in {args.work_dir / name}")
        return table
    plot_sweep(table, x=x, xlabel=xlabel, title=f"{experiment}: {name.split('-', 1)[1]}, {partners}",
               target=results / f"{name}.png", log_x=log_x)
    print(f"wrote {results / (name + '.csv')} and {results / (name + '.png')}")
    return table


def plot_sweep(table: pd.DataFrame, *, x: str, xlabel: str, title: str, target: Path, log_x: bool) -> None:
    """NDCG@10 of each point against ``x``; each baseline (server.plots.BASELINE_STYLES) as a series where it
    varies between points, else as a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = table[table["status"].isin(["succeeded", "degraded"])]
    numeric = pd.to_numeric(done[x], errors="coerce")
    finite = numeric[numeric != float("inf")]
    shown = numeric.replace(float("inf"), finite.max() * 4 if len(finite) else 1.0)  # no-DP / IID: right edge
    order = shown.argsort()
    fig, axis = plt.subplots(figsize=(7, 4.5))
    on_x = len(done) > 0 and numeric.notna().all()
    if on_x:
        axis.plot(shown.iloc[order], done["ndcg@10"].iloc[order], marker="o", label="federated model (last round)")
        if "selected_ndcg@10" in done and done["selected_ndcg@10"].notna().any():
            axis.plot(shown.iloc[order], done["selected_ndcg@10"].iloc[order], marker="s", fillstyle="none",
                      linestyle=":", label="federated model (round selected by validation NDCG)")
        for index, value in shown.items():
            axis.annotate(done.loc[index, "name"], (value, done.loc[index, "ndcg@10"]), fontsize=7,
                          textcoords="offset points", xytext=(3, 4))
        if log_x:
            axis.set_xscale("log")
    else:
        axis.bar(done[x].astype(str), done["ndcg@10"], label="federated model")
    for name, (label, colour, style) in BASELINE_STYLES.items():
        column = f"{name}_ndcg@10"
        if column not in done or not done[column].notna().any():
            continue
        if done[column].nunique() > 1 and on_x:  # varies with the setting
            axis.plot(shown.iloc[order], done[column].iloc[order], linestyle=style, marker="x", color=colour,
                      label=label)
        else:
            axis.axhline(done[column].mean(), linestyle=style, color=colour, label=f"{label}: {done[column].mean():.4f}")
    axis.set(xlabel=xlabel, ylabel="NDCG@10 (central evaluation)", title=title)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
