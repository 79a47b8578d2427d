"""End to end: the real ``flwr run`` (local SuperLink, Ray simulation engine), 2 partners x 2 rounds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from recmodel.privacy.ledger import entry_hash

REPO = Path(__file__).resolve().parents[2]
FLWR = Path(sys.executable).parent / "flwr"


def _superlink_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "flower-superlink"], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


@pytest.fixture
def flwr_env(tmp_path):
    """Isolated FLWR_HOME, no runtime dependency install; stops the SuperLink it started."""
    before = _superlink_pids()
    env = dict(os.environ, FLWR_HOME=str(tmp_path / "flwr-home"), FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1")
    yield env
    for pid in _superlink_pids() - before:
        try:
            os.killpg(os.getpgid(pid), signal.SIGTERM)
        except ProcessLookupError:
            pass


def test_flwr_run_two_partners_two_rounds(flwr_env, tmp_path):
    out_dir = tmp_path / "runs"
    run_config = (
        f"num-server-rounds=2 synthetic-users=160 synthetic-items=80 synthetic-categories=6 "
        f"batch-size=16 item-buckets=256 output-dir='{out_dir}' run-name='e2e'"
    )
    proc = subprocess.run(
        [str(FLWR), "run", str(REPO), "--stream", "--run-config", run_config,
         "--federation-config", "num-supernodes=2"],
        env=flwr_env, capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    run_dir = out_dir / "e2e"
    assert f"artifacts in {run_dir}" in output
    assert "round |  NDCG@10" in output

    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["metrics"]) >= {"ndcg@10", "hr@10"}
    assert set(summary["baselines"]["popularity"]) >= {"ndcg@10", "hr@10"}
    assert set(summary["privacy"]["epsilon"]) == {"partner-0", "partner-1"}
    assert summary["privacy"]["delta"] == 1e-5

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rows] == [0, 1, 2]
    assert rows[1]["epsilon_max"] < rows[2]["epsilon_max"] <= 8.0
    for partner in ("partner-0", "partner-1"):
        entries = [json.loads(l) for l in (run_dir / "partners" / partner / "ledger.jsonl").read_text().splitlines()]
        assert [e["round"] for e in entries] == [1, 2]
        assert all(entry_hash(e) == e["hash"] for e in entries)
        assert entries[-1]["epsilon"] == pytest.approx(summary["privacy"]["epsilon"][partner])
    assert (run_dir / "model.pt").stat().st_size > 0
    assert (run_dir / "ndcg_epsilon.png").read_bytes()[:4] == b"\x89PNG"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["run_config"]["num-server-rounds"] == 2
