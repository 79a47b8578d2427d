"""The experiment table of docs/experiments.md, generated from the published results, docs/results/*.csv.

    python -m simulations.results_table            # rewrite the table between the page's markers
    python -m simulations.results_table --print    # print it instead
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from simulations.experiment_cli import PUBLISHED as RESULTS

PAGE = Path(__file__).resolve().parents[1] / "docs" / "experiments.md"
START, END = "<!-- experiments:start -->", "<!-- experiments:end -->"


def fmt(value, digits: int = 4) -> str:
    return "-" if pd.isna(value) else f"{value:.{digits}f}"


def selected(row: dict) -> str:
    """NDCG@10 of the round selected by validation NDCG, and that round ("-" in CSVs from before selection)."""
    if pd.isna(row.get("selected_ndcg@10")):
        return "-"
    return f"{row['selected_ndcg@10']:.4f} ({int(row['selected_round'])})"


def table() -> str:
    lines = ["| results | point | status | NDCG@10 (last round) | selected by validation (round) | popularity | "
             "DP popularity | max epsilon | seconds | command |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for csv in sorted(RESULTS.glob("*.csv")):
        for row in pd.read_csv(csv).to_dict("records"):
            lines.append(f"| [{csv.stem}](results/{csv.stem}.png) | {row['name']} | {row['status']} | "
                         f"{fmt(row.get('ndcg@10'))} | {selected(row)} | {fmt(row.get('popularity_ndcg@10'))} | "
                         f"{fmt(row.get('dp_popularity_ndcg@10'))} | {fmt(row.get('epsilon_max'), 3)} | "
                         f"{fmt(row.get('seconds'), 0)} | `{row['command']}` |")
    return "\n".join(lines)


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--print", action="store_true", help="print the table instead of rewriting docs/experiments.md")
    args = cli.parse_args()
    text = table()
    if args.print:
        print(text)
        return
    page = PAGE.read_text()
    if START not in page or END not in page:
        raise SystemExit(f"{PAGE}: no {START} ... {END} markers to write the table between")
    head, rest = page.split(START, 1)
    PAGE.write_text(head + START + "\n" + text + "\n" + END + rest.split(END, 1)[1])
    print(f"wrote {text.count(chr(10)) - 1} rows into {PAGE}")


if __name__ == "__main__":
    main()
