"""A partner whose update holds NaN, on the real Flower runtime: rejected by name, never in the global model.

The app under test is this repository's, except that its ClientApp is wrapped so that partner 1 poisons every
update it sends (a broken or malicious site); the ServerApp is the real one.
"""

from __future__ import annotations

import json
import re
import subprocess

import torch

from tests.e2e.conftest import FEDREC, REPO

ROGUE_CLIENT = '''
"""Partner 1 sends NaN in one array of every update; everything else is fedrec's own ClientApp."""
import torch
from flwr.app import ArrayRecord
from flwr.clientapp import ClientApp

from client.app import evaluate, query, train as honest_train

app = ClientApp()
app.evaluate()(evaluate)
app.query()(query)


@app.train()
def train(msg, context):
    reply = honest_train(msg, context)
    if int(context.node_config["partition-id"]) == 1 and not reply.has_error() and "arrays" in reply.content:
        state = reply.content["arrays"].to_torch_state_dict()
        state["dlrm.over_arch.mlp.0.bias"][0] = float("nan")
        reply.content["arrays"] = ArrayRecord(state)
    return reply
'''


def test_a_partner_sending_nan_is_named_and_left_out_of_every_aggregate(flwr_env, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    pyproject = (REPO / "pyproject.toml").read_text()
    (app / "pyproject.toml").write_text(re.sub(r'clientapp = "client.app:app"', 'clientapp = "rogue_client:app"',
                                               pyproject))
    (app / "rogue_client.py").write_text(ROGUE_CLIENT)
    out_dir = tmp_path / "runs"
    done = subprocess.run([str(FEDREC), "run", str(app), "--run-config",
                           "num-server-rounds=2 synthetic-users=160 synthetic-items=80 synthetic-categories=6 "
                           f"batch-size=16 item-buckets=256 profiles=false output-dir='{out_dir}' run-name='rogue'",
                           "--federation-config", "num-supernodes=2"],
                          env=flwr_env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    console = done.stdout + done.stderr
    assert done.returncode == 0, console[-3000:]  # partner 0 alone meets min-partners=1: a degraded run
    summary = json.loads((out_dir / "rogue" / "summary.json").read_text())
    assert summary["status"] == "degraded"
    for server_round in ("1", "2"):
        why = summary["partner_failures"][server_round]["partner-1"]
        assert "update rejected: array 'dlrm.over_arch.mlp.0.bias' holds NaN or Inf" in why
    assert "round 1: partner 'partner-1' failed and is left out of this round's average: update rejected" in console
    final = torch.load(out_dir / "rogue" / "model.pt", weights_only=True)
    assert all(bool(torch.isfinite(t).all()) for t in final.values() if t.is_floating_point())
