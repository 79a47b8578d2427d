"""A coordinator killed after round 2 and resumed finishes round 3: without DP, the same model as an uninterrupted
run with the same seed; with DP, the ledgers an uninterrupted run writes (each planned release once, the same
noise, sample rate and steps at every round, the whole target spent and no more), which ``fedrec audit`` re-derives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from recmodel.processes import command_line, processes_started_with
from recmodel.privacy.accounting import CALIBRATION_TOLERANCE
from tests.e2e.conftest import FEDREC, fedrec_run

SERVERAPP_PROGRAMS = (b"flwr-simulation", b"flwr-serverapp")  # simulation runtime; deployment runtime
RUN = ("num-server-rounds=3 synthetic-users=400 synthetic-items=100 synthetic-categories=6 batch-size=32 "
       "item-buckets=256 local-epochs=1 profiles=false")


def _checkpoint_round(run_dir: Path) -> int:
    path = run_dir / "checkpoint" / "checkpoint.pt"
    try:
        return int(torch.load(path, weights_only=True)["server_round"]) if path.is_file() else 0
    except (RuntimeError, EOFError, OSError):  # being replaced right now
        return 0


def _coordinator_killed_after_round_2(env, cwd: Path, config: str, run_dir: Path) -> None:
    """Start the run; SIGKILL its coordinator (the process running the ServerApp) once round 2 is checkpointed."""
    run = fedrec_run(env, cwd, config, background=True)
    deadline = time.time() + 400
    while _checkpoint_round(run_dir) < 2:
        assert run.poll() is None and time.time() < deadline, "the run ended before round 2 was checkpointed"
        time.sleep(0.05)
    coordinator = [pid for pid in processes_started_with(Path(env["FLWR_HOME"]))
                   if any(name in command_line(pid) for name in SERVERAPP_PROGRAMS)]
    assert coordinator, "no ServerApp process found"
    for pid in coordinator:
        os.kill(pid, signal.SIGKILL)
    output, _ = run.communicate(timeout=300)
    assert _checkpoint_round(run_dir) == 2, "round 3 was checkpointed before the kill"
    assert not (run_dir / "summary.json").exists(), output[-2000:]


def _ledgers(run_dir: Path) -> dict[str, list[tuple]]:
    """Each simulated partner's ledger, as (round, model, epsilon, noise multiplier, sample rate, steps) rows."""
    ledgers = {}
    for ledger in sorted((run_dir / "partners").glob("*/ledger.jsonl")):
        entries = [json.loads(line) for line in ledger.read_text().splitlines()]
        ledgers[ledger.parent.name] = [(e["round"], e["model"], round(e["epsilon"], 9), e["noise_multiplier"],
                                        e["sample_rate"], e["steps"]) for e in entries]
    return ledgers


UNINTERRUPTED_LEDGER = [(0, "popularity"), (1, "dlrm"), (1, "evaluation"), (2, "dlrm"), (2, "evaluation"),
                        (3, "dlrm"), (3, "evaluation"), (0, "evaluation")]  # the served model's marketing figures last


@pytest.mark.parametrize("dp", [False, True])
def test_a_run_stopped_after_round_2_and_resumed_ends_like_an_uninterrupted_one(flwr_env, tmp_path, dp):
    out_dir = tmp_path / "runs"
    config = f"{RUN} dp={str(dp).lower()} output-dir='{out_dir}'"
    if not dp:  # the oracle of the model: an uninterrupted run with the same seed
        whole = fedrec_run(flwr_env, tmp_path, f"{config} run-name='whole'")
        assert whole.returncode == 0, (whole.stdout + whole.stderr)[-3000:]

    stopped = out_dir / "stopped"
    _coordinator_killed_after_round_2(flwr_env, tmp_path, f"{config} run-name='stopped'", stopped)
    resumed = fedrec_run(flwr_env, tmp_path, f"{config} run-name='stopped' resume-from='{stopped}'")
    console = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, console[-3000:]
    assert "resuming from the checkpoint of round 2: rounds 3-3 to go" in console
    assert "round 1: training" not in console and "round 3: training" in console

    rows = [json.loads(line)["round"] for line in (stopped / "metrics.jsonl").read_text().splitlines()]
    assert rows == [0, 1, 2, 3]  # no round redone, none skipped
    summary = json.loads((stopped / "summary.json").read_text())
    assert summary["status"] == "succeeded"
    if not dp:  # deterministic given the seed: the same final model
        final = torch.load(stopped / "model.pt", weights_only=True)
        reference = torch.load(out_dir / "whole" / "model.pt", weights_only=True)
        for name, tensor in reference.items():
            assert torch.allclose(final[name], tensor, atol=1e-5), name
        return
    # DP noise is secret (not seeded), so the model differs; the privacy bookkeeping may not
    ledgers = _ledgers(stopped)
    assert sorted(ledgers) == ["partner-0", "partner-1"]
    for partner, ledger in ledgers.items():
        assert [row[:2] for row in ledger] == UNINTERRUPTED_LEDGER, partner
        dlrm = [row[3:] for row in ledger if row[1] == "dlrm"]  # (noise multiplier, sample rate, steps)
        assert dlrm == [dlrm[0]] * 3, partner
        spent = [row[2] for row in ledger]
        assert spent == sorted(spent) and 8.0 - CALIBRATION_TOLERANCE <= spent[-1] <= 8.0, (partner, spent)
        assert summary["privacy"]["epsilon"][partner] == pytest.approx(spent[-1], rel=1e-9)
    audit = subprocess.run([str(FEDREC), "audit", str(stopped)], capture_output=True, text=True, timeout=300)
    assert audit.returncode == 0 and "overall: PASS (2/2 ledgers pass)" in audit.stdout, audit.stdout[-3000:]
