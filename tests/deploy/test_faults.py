"""Faults on a loopback deployment: unregistered and plaintext SuperNodes are refused; a SuperNode killed in
round 2 of 3 costs that round's update, not the run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from deploy.commands import list_supernodes_command, node_config, run_command, supernode_command
from deploy.credentials import create_credentials
from deploy.local_federation import deployment_run_config, resolved_command, running_federation
from recmodel.processes import free_port, processes_started_with

REPO = Path(__file__).resolve().parents[2]


def _online_nodes(federation) -> list[str]:
    listed = subprocess.run(resolved_command(list_supernodes_command()),
                            env=federation.env(), capture_output=True, text=True, timeout=60)
    return [n["node-id"] for n in json.loads(listed.stdout)["nodes"] if n["status"] == "online"]


def test_refused_connections_and_a_supernode_killed_in_round_2_of_3(tmp_path):
    with running_federation(tmp_path / "federation", 3, users=300) as (federation, attributes):
        # a key the coordinator never registered, and a plaintext connection to the TLS SuperLink: both refused
        stranger = create_credentials(tmp_path / "stranger", ("stranger",), ("127.0.0.1",), federation.address)
        shutil.copy(federation.credentials.ca_certificate, stranger.partner_dir("stranger") / "ca.crt")  # trusts it
        config = node_config(partner="stranger", data_path=str(federation.data_path("site-1")),
                             catalogue_path=str(federation.catalogue_path),
                             state_dir=str(tmp_path / "stranger-state"), max_epsilon=10, expected_users=100)
        unregistered = federation.start("unregistered", supernode_command(
            superlink=federation.address, partner_dir=str(stranger.partner_dir("stranger")),
            runtime_port=free_port(), config=config) + ["--max-retries", "2"])
        plaintext = federation.start("plaintext", ["flower-supernode", "--insecure", "--superlink", federation.address,
                                                   "--port", str(free_port()), "--max-retries", "2",
                                                   "--node-config", config])
        assert unregistered.wait(timeout=120) != 0 and plaintext.wait(timeout=120) != 0
        logs = federation.root / "logs"
        assert "Failed to activate SuperNode" in (logs / "unregistered.log").read_text()
        assert "could not establish a connection to the SuperLink" in (logs / "plaintext.log").read_text()
        assert len(_online_nodes(federation)) == 3  # the three registered partners only

        run_config = deployment_run_config(federation, attributes, rounds=3, item_buckets=1024, max_epsilon=10.0,
                                           min_partners=2, extra="local-epochs=1 profiles=false popularity-prior=false")
        run = subprocess.Popen(resolved_command(run_command(str(REPO), run_config)), env=federation.env(),
                               cwd=federation.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        console = []
        for line in run.stdout:
            console.append(line)
            if "round 2: training" in line:
                federation.processes["site-3"].kill()  # SIGKILL of one partner's SuperNode during round 2
        run.wait(timeout=60)
    console = "".join(console)
    assert run.returncode == 0, console[-4000:]
    assert processes_started_with(federation.flwr_home) == []

    summary = json.loads((federation.run_dir / "summary.json").read_text())
    assert summary["status"] == "degraded", summary["end_reason"]
    assert list(summary["partner_failures"]) == ["2"] and list(summary["partner_failures"]["2"]) == ["site-3"]
    assert "round 2: partner 'site-3' failed" in console
    rows = [json.loads(line) for line in (federation.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [sorted(row["partners"]) for row in rows[1:]] == [["site-1", "site-2", "site-3"], ["site-1", "site-2"],
                                                            ["site-1", "site-2"]]
    assert (federation.run_dir / "model.pt").is_file()
    report = (federation.run_dir / "report.html").read_text()
    assert "Rounds partners missed" in report and "<td>site-3</td><td>2</td>" in report
