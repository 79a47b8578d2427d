"""``fedrec deploy local`` end to end: TLS, SuperNode auth, a coordinator that opens no partner file, teardown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from recmodel.processes import processes_started_with

REPO = Path(__file__).resolve().parents[2]
FEDREC = Path(sys.executable).parent / "fedrec"
OPEN_AUDIT = Path(__file__).parent / "open_audit"
COORDINATOR_PROGRAMS = ("flower-superlink", "flwr-serverapp")


def opened_files(log_dir: Path) -> dict[str, list[str]]:
    """{command line: [opened paths]} from the open-audit logs (tests/deploy/open_audit)."""
    opened = {}
    for log in log_dir.glob("*.log"):
        lines = log.read_text(errors="replace").splitlines()
        argv = lines[0].removeprefix("argv ") if lines else ""
        opened[f"{log.stem} {argv}"] = [line.removeprefix("open ") for line in lines[1:] if line.startswith("open ")]
    return opened


def test_deploy_local_three_partners_two_rounds_without_partner_data_at_the_coordinator(tmp_path):
    out, log_dir = tmp_path / "federation", tmp_path / "opened"
    log_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(OPEN_AUDIT), os.environ.get("PYTHONPATH", "")]),
               FEDREC_TEST_OPEN_LOG=str(log_dir))
    done = subprocess.run([str(FEDREC), "deploy", "local", "--partners", "3", "--rounds", "2", "--users", "300",
                           "--out", str(out), "--run-config", "local-epochs=1 profiles=false"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    console = done.stdout + done.stderr
    assert done.returncode == 0, console[-4000:]
    assert "deployment, 3 partner(s) (site-1, site-2, site-3)" in console
    assert "the coordinator reads no partner data" in console

    run_dir = out / "coordinator" / "runs" / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "succeeded" and summary["rounds"] == 2
    assert "popularity" not in summary["baselines"]  # the exact baseline needs partner data
    assert json.loads((run_dir / "config.json").read_text())["mode"] == "deployment"
    assert (run_dir / "model.pt").is_file()
    for site in ("site-1", "site-2", "site-3"):
        assert (out / "sites" / site / "state" / "ledger.jsonl").is_file(), site
        assert f"{site}'s ledger" in console

    # the coordinator's processes opened no partner file; the sites' processes did (the instrument works)
    opened = opened_files(log_dir)
    coordinator = {who: paths for who, paths in opened.items() if any(p in who for p in COORDINATOR_PROGRAMS)}
    assert any("flwr-serverapp" in who for who in coordinator), sorted(opened)
    partner_files = str(out / "sites")
    assert not [p for paths in coordinator.values() for p in paths if p.startswith(partner_files)]
    site_reads = {p for who, paths in opened.items() if who not in coordinator for p in paths}
    assert {str(out / "sites" / s / "events.parquet") for s in ("site-1", "site-2", "site-3")} <= site_reads

    # nothing of the federation is left running
    assert processes_started_with(out / "flwr-home") == []

    # a deployed run is audited from the coordinator's run directory plus each site's state directory
    alone = subprocess.run([str(FEDREC), "audit", str(run_dir)], capture_output=True, text=True, timeout=300)
    assert alone.returncode == 1 and "is a deployed run: its ledgers stay at the sites" in alone.stdout
    sites = [arg for s in ("site-1", "site-2", "site-3") for arg in ("--site", str(out / "sites" / s / "state"))]
    audit = subprocess.run([str(FEDREC), "audit", str(run_dir), *sites], capture_output=True, text=True, timeout=300)
    assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr
    assert "overall: PASS (3/3 ledgers pass)" in audit.stdout
