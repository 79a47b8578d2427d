"""The canary audit on real simulated runs: DP off leaks and shows it; a site whose DP-SGD adds no noise while
its ledger records the planned noise is caught; the landed mechanism at the other site stays below its ledger.

Smaller than the acceptance runs (docs/privacy.md has those figures, from the same command at its defaults):
800 synthetic users, 2 partners, 400 canaries, 2 rounds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from simulations.canary_audit import main
from simulations.client_variant import app_with_client

FEDREC = Path(sys.executable).parent / "fedrec"
SMALL = ["--canaries", "400", "--partners", "2", "--users", "800", "--items", "300"]
BROKEN_CLIENT = '''
"""fedrec's ClientApp, except that partner-0's DP-SGD adds no noise while its ledger records the planned noise:
a deliberately broken mechanism, selectable only by a test that writes this app."""
from flwr.clientapp import ClientApp

import recmodel.training.embedding_aware_dp_sgd as dp_sgd
from client.app import evaluate, query, train as honest_train

app = ClientApp()
app.evaluate()(evaluate)
app.query()(query)
BROKEN = {"on": False}
_honest_init = dp_sgd.EmbeddingAwareDPSGD.__init__


def _noiseless_init(self, *args, **kwargs):
    _honest_init(self, *args, **kwargs)
    if BROKEN["on"]:
        self.noise_std = 0.0
        for owed in self.deferred.values():
            owed.std_per_step = 0.0


dp_sgd.EmbeddingAwareDPSGD.__init__ = _noiseless_init


@app.train()
def train(msg, context):
    BROKEN["on"] = int(context.node_config["partition-id"]) == 0
    return honest_train(msg, context)
'''


def _report(work: Path) -> dict:
    return json.loads((work / "runs" / "audit" / "privacy" / "empirical-audit.json").read_text())


def test_dp_off_leaks_canaries_and_the_audit_shows_it(tmp_path):
    work = tmp_path / "off"
    assert main([*SMALL, "--run-config", "dp=false num-server-rounds=2", "--work-dir", str(work)]) == 0
    report = _report(work)
    white_box = report["views"]["site updates"]["all partners"]
    assert white_box["ledger_epsilon"] is None and white_box["one_run_epsilon"] >= 2.0, white_box
    assert white_box["auc"] > 0.9
    privacy = work / "runs" / "audit" / "privacy"
    assert (privacy / "canary-roc.png").stat().st_size > 1000 and (privacy / "canary-scores.png").is_file()
    assert len(json.loads((privacy / "canaries.json").read_text())) == 400
    assert "Empirical privacy audit" in (work / "runs" / "audit" / "report.html").read_text()


def test_a_site_without_noise_is_caught_and_the_landed_mechanism_is_not(tmp_path):
    app = app_with_client(tmp_path / "broken-app", "broken_client", BROKEN_CLIENT)
    work = tmp_path / "broken"
    status = main([*SMALL, "--run-config", "target-epsilon=2.0 num-server-rounds=2 popularity-prior=false", "--app", str(app),
                   "--work-dir", str(work)])
    report = _report(work)
    broken, honest = report["views"]["site updates"]["partner-0"], report["views"]["site updates"]["partner-1"]
    assert broken["exceeds_ledger"] and broken["one_run_epsilon"] > broken["ledger_epsilon"], broken
    assert not honest["exceeds_ledger"] and honest["one_run_epsilon"] <= honest["ledger_epsilon"], honest
    assert status == 1 and not report["passed"]
    audit = subprocess.run([str(FEDREC), "audit", str(work / "runs" / "audit")], capture_output=True, text=True,
                           timeout=300)
    assert audit.returncode == 1
    assert "site updates, partner-0: empirical epsilon >=" in audit.stdout and "canary audit FAIL" in audit.stdout
