"""Runs that fail say so: a simulation whose partners all fail from round 2 exits non-zero, and its summary names them."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from recmodel.cli.local_superlink import local_superlinks
from recmodel.data.synthetic import SyntheticSpec, generate_events
from recmodel.processes import processes_started_with
from simulations.chaos import ctrl_c_enabled
from tests.e2e.conftest import FEDREC, REPO, fedrec_run

TINY = "synthetic-categories=6 batch-size=16 item-buckets=256 profiles=false"


def test_a_run_whose_partners_all_fail_from_round_2_exits_non_zero(flwr_env, tmp_path):
    events = tmp_path / "events.parquet"
    generate_events(SyntheticSpec(users=160, items=80, categories=6, partners=2, seed=3)).to_parquet(events)
    out_dir = tmp_path / "runs"
    run = fedrec_run(flwr_env, tmp_path, f"num-server-rounds=3 {TINY} dataset='{events}' output-dir='{out_dir}' "
                                         "run-name='failing'", background=True)
    partners = out_dir / "failing" / "partners"
    deadline = time.time() + 300
    while sum('"round": 1' in _text(ledger) for ledger in partners.glob("*/ledger.jsonl")) < 2:  # round 1 trained
        assert run.poll() is None and time.time() < deadline, "the run ended before round 1 was trained"
        time.sleep(0.05)
    events.write_bytes(b"this is no longer a Parquet file")  # every later read of the partners' data fails
    output, _ = run.communicate(timeout=600)

    assert run.returncode == 1, output[-3000:]
    assert "ended with status finished:failed" in output
    summary = json.loads((out_dir / "failing" / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert sorted(summary["failed_rounds"]) == ["2", "3"]
    for failed_round in ("2", "3"):
        failures = summary["partner_failures"][failed_round]
        assert sorted(failures) == ["partner-0", "partner-1"]
        assert all("events.parquet" in reason for reason in failures.values())
    assert "FAILED rounds [2, 3]" in summary["end_reason"]
    assert (out_dir / "failing" / "model.pt").exists()  # the round-1 model is kept, and labelled as such


def test_a_bad_configuration_stops_before_training_with_one_line_and_exits_non_zero(flwr_env, tmp_path):
    result = fedrec_run(flwr_env, tmp_path, "target-epsilon=1e6")
    assert result.returncode == 1
    assert ("fedrec: cannot start the run: target-epsilon = 1000000.0 is not usable as an epsilon; allowed: a finite "
            "number in [0.01, 100]") in result.stdout
    assert "Traceback" not in result.stdout and len(result.stdout.splitlines()) < 25
    assert "stopped the local SuperLink this command started" in result.stderr  # flwr run would leave it running
    assert not local_superlinks(Path(flwr_env["FLWR_HOME"]))


def test_a_killed_superlink_stops_the_simulation_and_its_partner_processes(flwr_env, tmp_path):
    out_dir = tmp_path / "runs"
    run = fedrec_run(flwr_env, tmp_path, f"num-server-rounds=20 {TINY} synthetic-users=400 output-dir='{out_dir}' "
                                         "run-name='orphan'", background=True)
    try:
        partners = out_dir / "orphan" / "partners"
        deadline = time.time() + 300
        while not list(partners.glob("*/calibration.json")):  # partners are training
            if run.poll() is not None or time.time() > deadline:
                run.kill()
                pytest.fail(f"the run ended or stalled before training started:\n{run.communicate()[0][-3000:]}")
            time.sleep(0.1)
        home = Path(flwr_env["FLWR_HOME"])
        superlinks = [pid for pid in processes_started_with(home) if b"flower-superlink" in _cmdline(pid)]
        assert len(superlinks) == 1
        os.kill(superlinks[0], signal.SIGKILL)
        deadline = time.time() + 120  # Ray's processes take a while to go on a loaded machine
        while (left := [p for p in processes_started_with(home) if p != run.pid]) and time.time() < deadline:
            time.sleep(0.5)
        assert not left, [_cmdline(p) for p in left]  # no simulation process, no Ray worker still training
    finally:
        run.kill()
        if not run.stdout.closed:
            run.communicate()


def test_ctrl_c_stops_the_run_itself_and_says_what_was_kept(flwr_env, tmp_path):
    """Ctrl-C (SIGINT to the foreground process group) after round 1: the run stops on the SuperLink too, no
    later round is written, and the console says where the finished rounds are."""
    out_dir = tmp_path / "runs"
    command = [str(FEDREC), "run", str(REPO), "--run-config", f"num-server-rounds=20 {TINY} synthetic-users=400 "
               f"output-dir='{out_dir}' run-name='stopped'", "--federation-config", "num-supernodes=2"]
    run = subprocess.Popen(command, env=flwr_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, start_new_session=True, preexec_fn=ctrl_c_enabled)
    metrics = out_dir / "stopped" / "metrics.jsonl"
    deadline = time.time() + 300
    while _text(metrics).count("\n") < 2:  # round 0 and round 1 written
        assert run.poll() is None and time.time() < deadline, run.communicate()[1][-3000:]
        time.sleep(0.1)
    interrupted_at = _text(metrics).count("\n")
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err[-3000:]
    assert "was stopped on the SuperLink" in err and "resume-from" in err
    home = Path(flwr_env["FLWR_HOME"])  # once no process of the run is left, nothing can write another round
    deadline = time.time() + 120
    while (left := [p for p in processes_started_with(home) if b"flower-superlink" not in _cmdline(p)]) \
            and time.time() < deadline:
        time.sleep(0.2)
    assert not left, [_cmdline(p) for p in left]
    assert _text(metrics).count("\n") <= interrupted_at + 1  # at most the round in flight recorded its row
    assert not (out_dir / "stopped" / "summary.json").exists()


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:  # not written yet
        return ""


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""
