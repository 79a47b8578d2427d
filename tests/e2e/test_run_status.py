"""Runs that fail say so: a simulation whose partners all fail from round 2 exits non-zero, and its summary names them."""

import json
import time
from pathlib import Path

from recmodel.cli.local_superlink import local_superlinks
from recmodel.data.synthetic import SyntheticSpec, generate_events
from simulations.chaos import run_case
from tests.e2e.conftest import fedrec_run

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


def test_a_killed_superlink_stops_the_simulation_and_its_partner_processes(tmp_path):
    """The chaos command's ``kill-superlink`` case (SIGKILL to the SuperLink after round 1): the command ends
    non-zero without a traceback and no simulation process or Ray worker keeps training (every process of the
    run ends by itself, ``simulations.chaos.LEFT_RUNNING_GRACE_S``)."""
    result = run_case(1, "kill-superlink", after_round=1, work=tmp_path, deadline_s=180)
    assert result.ok, result.detail
    assert result.exit_status not in (0, None)


def test_ctrl_c_stops_the_run_itself_and_says_what_was_kept(tmp_path):
    """The chaos command's ``interrupt`` case (Ctrl-C to the command's process group once round 1 is written):
    exit 130, the run stops on the SuperLink too (every process of it ends by itself, so no later round can be
    written), and the console says where the finished rounds are."""
    result = run_case(1, "interrupt", after_round=1, work=tmp_path, deadline_s=180)
    assert result.ok, result.detail
    assert result.exit_status == 130
    case = tmp_path / "case-01-interrupt"
    console = (case / "console.log").read_text()
    assert "was stopped on the SuperLink" in console and "resume-from" in console
    run_dir = case / "runs" / "case"
    assert _text(run_dir / "metrics.jsonl").count("\n") <= 3  # rounds 0 and 1, at most the round in flight
    assert not (run_dir / "summary.json").exists()


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:  # not written yet
        return ""
