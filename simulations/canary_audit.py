"""An empirical privacy audit in one run: canary users, a real simulated federation, a lower bound on epsilon.

    python -m simulations.canary_audit --canaries 1000 --partners 2 --work-dir audit
    python -m simulations.canary_audit --canaries 1000 --partners 2 --work-dir audit-off --run-config "dp=false"

1. The base log (the synthetic default, or ``--dataset``) gets ``--canaries`` canary users
   (``recmodel.empirical_audit.canaries``): each has one fresh item nobody else has, and a secret coin includes
   it at its partner with probability 1/2. The run's declared catalogue holds every canary's fresh item.
2. ``fedrec run`` trains on the base log plus the included canaries (a private Flower home and ports) with
   ``keep-site-updates=true``: the run keeps what the coordinator saw.
3. Each canary is scored against each partner's released models (white-box) and against the final model
   (public), and the one-run method turns scores and coins into lower bounds on epsilon at 95% confidence
   (``recmodel.empirical_audit``), beside the epsilon each partner's ledger records.

Writes ``<work-dir>/runs/audit/`` (the run, with ``privacy/empirical-audit.json``, ``canary-roc.png``,
``canary-scores.png``, ``canaries.json`` and the HTML report's "Empirical privacy audit" section) and
``<work-dir>/data/``. Exit 0 when no bound exceeds the ledger's epsilon, 1 when one does or the run failed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from recmodel.cli.arguments import positive_int
from recmodel.data.schema import load_events
from recmodel.data.synthetic import SyntheticSpec, generate_events
from recmodel.empirical_audit.canaries import declared_catalogue, make_canaries
from recmodel.empirical_audit.run_audit import canary_scores, write_audit
from recmodel.empirical_audit.verdict import audit_problems, audit_report
from recmodel.processes import processes_started_with, stop_processes
from server.html_report import write_html_report
from simulations.local_superlink import private_flower_env

REPO = Path(__file__).resolve().parents[1]
FEDREC = str(Path(sys.executable).parent / "fedrec")
RUN_NAME = "audit"


def prepare_data(work: Path, *, canaries: int, partners: int, seed: int, dataset: Path | None, users: int,
                 items: int, categories: int):
    """Write the run's events (base + included canaries), every canary's events and the declared catalogue;
    returns (CanarySet, run events path, all-canary events path, catalogue path)."""
    folder = work / "data"
    folder.mkdir(parents=True, exist_ok=True)
    if dataset is None:
        base = generate_events(SyntheticSpec(users=users, items=items, categories=categories, partners=partners,
                                             seed=seed))
    else:
        base = load_events(dataset)
    base = base.drop(columns=[c for c in ("latent_favourites",) if c in base.columns])
    found = make_canaries(base, canaries, seed=seed + 1)
    paths = folder / "events.parquet", folder / "events-all-canaries.parquet", folder / "catalogue.parquet"
    pd.concat([base, found.included_events()], ignore_index=True).to_parquet(paths[0], index=False)
    pd.concat([base, found.events], ignore_index=True).to_parquet(paths[1], index=False)
    declared_catalogue(base, found).to_parquet(paths[2], index=False)
    return (found, *paths)


def run_federation(app: Path, work: Path, events: Path, catalogue: Path, partners: int, run_config: str) -> int:
    """``fedrec run`` of ``app`` on ``events``; its console streams through; returns its exit status."""
    home = work / "flwr-home"
    config = (f"{run_config} dataset='{events}' catalogue='{catalogue}' keep-site-updates=true "
              f"output-dir='{work / 'runs'}' run-name='{RUN_NAME}'").strip()
    command = [FEDREC, "run", str(app), "--run-config", config, "--federation-config", f"num-supernodes={partners}"]
    print("canary audit: " + shlex.join(command), flush=True)
    try:
        return subprocess.run(command, cwd=work, env=private_flower_env(home)).returncode
    finally:
        stop_processes(processes_started_with(home))


def print_report(report: dict) -> None:
    print(f"\nempirical privacy audit: {report['canaries']} canaries, {report['included']} included; one-run lower "
          f"bounds at {report['confidence']:.0%} confidence (delta {report['delta']:g})")
    print(f"{'view':<13} | {'canaries of':<14} | {'AUC':>5} | {'eps lower bound':>15} | {'classical':>9} | "
          f"{'ledger eps':>10} | verdict")
    for view, rows in report["views"].items():
        for group, row in rows.items():
            ledger = "none (DP off)" if row["ledger_epsilon"] is None else f"{row['ledger_epsilon']:.3f}"
            verdict = "LEAK" if row["exceeds_ledger"] else ("ok" if row["ledger_epsilon"] is not None else "-")
            print(f"{view:<13} | {group:<14} | {row['auc']:>5.3f} | {row['one_run_epsilon']:>15.3f} | "
                  f"{row['classical_epsilon']:>9.3f} | {ledger:>10} | {verdict}")
    for problem in audit_problems(report):
        print(f"FAIL: {problem}")
    print(f"verdict: {'PASS' if report['passed'] else 'FAIL'}")


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--canaries", type=positive_int, default=1000, help="canary users (default 1000)")
    cli.add_argument("--partners", type=positive_int, default=2, help="simulated partners (default 2)")
    cli.add_argument("--run-config", default="", help='more run-config overrides, e.g. "dp=false"')
    cli.add_argument("--dataset", type=Path, help="a base events file with partner_id (default: synthetic)")
    cli.add_argument("--users", type=positive_int, default=10000, help="synthetic users (default 10000)")
    cli.add_argument("--items", type=positive_int, default=1000, help="synthetic items (default 1000)")
    cli.add_argument("--categories", type=positive_int, default=20, help="synthetic categories (default 20)")
    cli.add_argument("--seed", type=int, default=0, help="base data, canaries and coins (default 0)")
    cli.add_argument("--app", type=Path, default=REPO, help="the Flower app to run (default: this one)")
    cli.add_argument("--work-dir", type=Path, default=Path("canary-audit"), help="default ./canary-audit")
    args = cli.parse_args(argv)
    work = args.work_dir.resolve()
    if (work / "runs" / RUN_NAME).exists():
        print(f"canary audit: {work / 'runs' / RUN_NAME} exists; choose a new --work-dir", file=sys.stderr)
        return 2
    started = time.monotonic()
    canaries, events, all_events, catalogue = prepare_data(
        work, canaries=args.canaries, partners=args.partners, seed=args.seed, dataset=args.dataset,
        users=args.users, items=args.items, categories=args.categories)
    print(f"canary audit: {len(canaries)} canaries, {int(canaries.included.sum())} included by their coins; "
          f"data in {work / 'data'}", flush=True)
    status = run_federation(args.app.resolve(), work, events, catalogue, args.partners, args.run_config)
    run_dir = work / "runs" / RUN_NAME
    if status != 0 or not (run_dir / "summary.json").is_file():
        print(f"canary audit: the run failed (exit {status}); nothing to audit", file=sys.stderr)
        return 1
    scores, sites = canary_scores(run_dir, all_events, canaries)
    summary = json.loads((run_dir / "summary.json").read_text())
    report = audit_report(scores, sites, canaries, summary)
    report["seconds"] = round(time.monotonic() - started, 1)
    write_audit(run_dir, report, scores, canaries, sites)
    privacy_file = run_dir / "privacy" / "report.json"
    write_html_report(run_dir, summary, json.loads(privacy_file.read_text()) if privacy_file.is_file() else None)
    print_report(report)
    print(f"canary audit: {report['seconds']:.0f} s; report in {run_dir / 'privacy' / 'empirical-audit.json'} and "
          f"{run_dir / 'report.html'}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
