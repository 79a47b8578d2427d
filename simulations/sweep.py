"""Run a sweep of real ``fedrec run`` simulations, one per point, into one CSV (resumable).

Every point is a full ``flwr run`` of this app (local SuperLink, Ray simulation engine) with run-config
overrides; its metrics are read back from the run's ``summary.json``. Rows are written to the CSV as
each point finishes, so an interrupted sweep resumes where it stopped: points whose row says
``succeeded`` (or ``degraded``) are skipped, failed ones are run again. Each point's console goes to
``<work-dir>/<point>.log``; the sweep prints one progress line per point.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recmodel.atomic_write import write_atomically
from recmodel.processes import processes_started_with, stop_processes
from simulations.local_superlink import private_flower_env

REPO = Path(__file__).resolve().parents[1]
FEDREC = Path(sys.executable).parent / "fedrec"
DONE = ("succeeded", "degraded")


@dataclass(frozen=True)
class Point:
    """One simulation: ``name`` (unique row id), run-config overrides, partner count, descriptive columns."""

    name: str
    run_config: dict
    partners: int
    labels: dict = field(default_factory=dict)


def run_config_text(values: dict) -> str:
    """``--run-config`` text: strings quoted for TOML, booleans lower-case."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        return f"'{v}'" if isinstance(v, str) else repr(v)
    return " ".join(f"{key}={value(v)}" for key, v in values.items())


def command_of(point: Point, base: dict, work_dir: Path) -> list[str]:
    overrides = {**base, **point.run_config, "output-dir": str(work_dir / "runs"), "run-name": point.name}
    return [str(FEDREC), "run", str(REPO), "--run-config", run_config_text(overrides),
            "--federation-config", f"num-supernodes={point.partners}"]


def result_row(point: Point, summary: dict, seconds: float, command: list[str]) -> dict:
    """Flat CSV row: labels, status, model (last round, and the round selected by validation NDCG) and baseline
    NDCG/HR@10, largest epsilon, time, command."""
    row = {"name": point.name, **point.labels, "partners": point.partners, "status": summary.get("status"),
           "ndcg@10": (summary.get("metrics") or {}).get("ndcg@10"), "hr@10": (summary.get("metrics") or {}).get("hr@10")}
    selected = summary.get("selected") or {}
    row["selected_ndcg@10"], row["selected_round"] = selected.get("ndcg@10"), selected.get("round")
    for name, values in (summary.get("baselines") or {}).items():
        row[f"{name}_ndcg@10"] = values.get("ndcg@10")
    epsilons = [e for e in ((summary.get("privacy") or {}).get("epsilon") or {}).values() if e is not None]
    row["epsilon_max"] = max(epsilons) if epsilons else None
    ratios = list(((summary.get("preflight") or {}).get("noise_to_signal") or {}).values())
    row["noise_to_signal_max"] = max(ratios) if ratios else None  # pre-flight estimate, to calibrate its warning
    row["seconds"] = round(seconds, 1)
    row["command"] = (f'fedrec run . --run-config "{command[4]}" --federation-config "{command[6]}"'
                      .replace(str(REPO), "."))
    return row


def run_sweep(points: list[Point], csv_path: Path, *, base: dict, work_dir: Path) -> pd.DataFrame:
    """Run every point not yet done in ``csv_path``; returns the whole table (one row per point)."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    work_dir = work_dir.resolve()  # the runs' output-dir: absolute, whatever directory the run starts in
    work_dir.mkdir(parents=True, exist_ok=True)
    rows = {}
    if csv_path.exists():
        rows = {r["name"]: r for r in pd.read_csv(csv_path).to_dict("records")}
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise ValueError(f"point names must be unique: {names}")
    started = time.time()
    home = work_dir / "flwr-home"
    env = private_flower_env(home)  # its own local SuperLink: never one another user started
    try:
        for index, point in enumerate(points, start=1):
            _run_point(f"[{index}/{len(points)}] {point.name}", point, names, rows, csv_path, base=base,
                       work_dir=work_dir, env=env, started=started)
    finally:
        stop_processes(processes_started_with(home))
    return pd.DataFrame([rows[n] for n in names if n in rows])


def set_aside_earlier_attempt(run_dir: Path) -> Path | None:
    """Rename an earlier (failed or interrupted) attempt's ``run_dir`` to ``<name>.attempt-N`` (first free N), so
    that the rerun writes ``run_dir`` afresh and its summary is the one read back; None if there was none."""
    if not run_dir.exists():
        return None
    attempt = 1
    while (kept := run_dir.with_name(f"{run_dir.name}.attempt-{attempt}")).exists():
        attempt += 1
    run_dir.rename(kept)
    return kept


def _run_point(tag: str, point: Point, names: list[str], rows: dict, csv_path: Path, *, base: dict,
               work_dir: Path, env: dict, started: float) -> None:
    """Run one point unless its row is done; rewrite the CSV (rows in ``names`` order) with its row."""
    if rows.get(point.name, {}).get("status") in DONE:
        print(f"{tag}: done in an earlier run of the sweep (NDCG@10 {rows[point.name]['ndcg@10']:.4f})", flush=True)
        return
    command = command_of(point, base, work_dir)
    earlier = set_aside_earlier_attempt(work_dir / "runs" / point.name)
    if earlier is not None:
        print(f"{tag}: the earlier attempt's run directory is kept as {earlier}", flush=True)
    print(f"{tag}: running ({time.time() - started:.0f} s into the sweep) ...", flush=True)
    began = time.time()
    with (work_dir / f"{point.name}.log").open("w") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=work_dir, env=env).returncode
    summary_file = work_dir / "runs" / point.name / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {"status": "failed"}
    if code != 0 and summary.get("status") in DONE:
        summary["status"] = "failed"
    rows[point.name] = result_row(point, summary, time.time() - began, command)
    table = pd.DataFrame([rows[n] for n in names if n in rows])
    write_atomically(csv_path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.5g"))
    ndcg = rows[point.name]["ndcg@10"]
    print(f"{tag}: {rows[point.name]['status']}, NDCG@10 {ndcg if ndcg is None else round(ndcg, 4)} in "
          f"{time.time() - began:.0f} s (log: {work_dir / (point.name + '.log')})", flush=True)
