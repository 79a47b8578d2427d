"""Rogue partners on the real Flower runtime: rejected by name, never in the global model.

The app under test is this repository's, except that its ClientApp is wrapped so that partner 1 poisons every
update it sends (a broken or malicious site); the ServerApp is the real one. One rogue sends NaN; the other
adds 1e3 to every weight and reports 1e12 steps and examples, to widen its update bound and take FedAvg's
weighted mean: the coordinator uses its own planned counts, so the update is rejected.
"""

from __future__ import annotations

import json
import subprocess

import torch

from simulations.chaos import NAN, ROUNDS, rogue_client, run_case
from simulations.client_variant import app_with_client
from tests.e2e.conftest import FEDREC


def _run_with_rogue(flwr_env, tmp_path, client: str):
    """``fedrec run`` of this app with ``client`` as its ClientApp module; (process, console, out dir)."""
    app = app_with_client(tmp_path / "app", "rogue_client", client)
    out_dir = tmp_path / "runs"
    done = subprocess.run([str(FEDREC), "run", str(app), "--run-config",
                           "num-server-rounds=2 synthetic-users=160 synthetic-items=80 synthetic-categories=6 "
                           f"batch-size=16 item-buckets=256 profiles=false output-dir='{out_dir}' run-name='rogue'",
                           "--federation-config", "num-supernodes=2"],
                          env=flwr_env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    return done, done.stdout + done.stderr, out_dir


def test_a_partner_lying_about_its_counts_cannot_take_the_model(tmp_path):
    """The chaos command's ``rogue-partner`` case (its own checks: exit 0, ``degraded``, no traceback, no process
    left, ``fedrec audit`` passes), and what that case leaves behind: every update of partner 1 rejected by its
    distance, the model without the offset, the coordinator's own counts."""
    result = run_case(1, "rogue-partner", after_round=1, work=tmp_path, deadline_s=180)
    assert result.ok, result.detail
    run_dir = tmp_path / "case-01-rogue-partner" / "runs" / "case"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "degraded"
    for server_round in range(1, ROUNDS + 1):
        assert "update rejected: its L2 distance from the global model" in (
            summary["partner_failures"][str(server_round)]["partner-1"])
    final = torch.load(run_dir / "model.pt", weights_only=True)
    assert max(float(t.abs().max()) for t in final.values() if t.is_floating_point()) < 100  # no 1e3 offset
    rounds = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rounds[-1]["partners"]["partner-0"]["steps"] < 1e6  # the coordinator's planned count


def test_a_partner_sending_nan_is_named_and_left_out_of_every_aggregate(flwr_env, tmp_path):
    done, console, out_dir = _run_with_rogue(flwr_env, tmp_path, rogue_client(NAN))
    assert done.returncode == 0, console[-3000:]  # partner 0 alone meets min-partners=1: a degraded run
    summary = json.loads((out_dir / "rogue" / "summary.json").read_text())
    assert summary["status"] == "degraded"
    for server_round in ("1", "2"):
        why = summary["partner_failures"][server_round]["partner-1"]
        assert "update rejected: array 'dlrm.over_arch.mlp.0.bias' holds NaN or Inf" in why
    assert "round 1: partner 'partner-1' failed and is left out of this round's average: update rejected" in console
    final = torch.load(out_dir / "rogue" / "model.pt", weights_only=True)
    assert all(bool(torch.isfinite(t).all()) for t in final.values() if t.is_floating_point())
