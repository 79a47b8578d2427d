"""Scripted runs (an experiment sweep) neither use nor disturb a SuperLink someone else started, and resume."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd

from recmodel.processes import processes_started_with, stop_processes
from simulations.sweep import Point, run_sweep
from tests.e2e.conftest import FLWR

FLOWER_DEFAULT_LOCAL_PORT = 39091  # where ``flwr run`` looks for (and starts) its local SuperLink by default
TINY = {"synthetic-users": 160, "synthetic-items": 80, "synthetic-categories": 6, "batch-size": 16,
        "item-buckets": 256, "num-server-rounds": 1, "profiles": False}


def port_is_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_unrelated_superlink(home: Path) -> subprocess.Popen | None:
    """Another user's local SuperLink on Flower's default port; None when one is already listening there."""
    if port_is_taken(FLOWER_DEFAULT_LOCAL_PORT):
        return None
    superlink = subprocess.Popen(
        [str(FLWR.parent / "flower-superlink"), "--insecure", "--simulation", "--host", "127.0.0.1",
         "--port", str(FLOWER_DEFAULT_LOCAL_PORT)],
        env=dict(os.environ, FLWR_HOME=str(home)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not port_is_taken(FLOWER_DEFAULT_LOCAL_PORT):
        assert superlink.poll() is None and time.time() < deadline, "the unrelated SuperLink did not start"
        time.sleep(0.2)
    return superlink


def test_a_sweep_runs_beside_an_unrelated_superlink_resumes_and_leaves_it_running(tmp_path, monkeypatch, capsys):
    unrelated = start_unrelated_superlink(tmp_path / "someone-else")
    try:
        monkeypatch.chdir(tmp_path)  # a relative work dir, as the experiment commands' default ./sweeps
        csv = tmp_path / "results" / "demo.csv"
        points = [Point("eps-4", {"target-epsilon": 4.0}, 2, {"epsilon_target": 4.0})]
        row = run_sweep(points, csv, base=TINY, work_dir=Path("work")).iloc[0]
        assert row["status"] == "succeeded" and 0 < row["ndcg@10"] <= 1 and row["epsilon_max"] <= 4.0 + 1e-6
        assert row["popularity_ndcg@10"] > 0 and row["command"].startswith("fedrec run . --run-config")
        assert pd.read_csv(csv)["name"].tolist() == ["eps-4"]
        home = (tmp_path / "work" / "flwr-home").resolve()
        assert (home / "local-superlink" / "superlink.log").is_file()  # its own SuperLink ...
        assert not processes_started_with(home)  # ... stopped when the sweep ended
        assert unrelated is None or unrelated.poll() is None  # the other one is untouched
        assert port_is_taken(FLOWER_DEFAULT_LOCAL_PORT)

        capsys.readouterr()
        run_sweep(points, csv, base=TINY, work_dir=Path("work"))  # the row is done: nothing runs again
        assert "done in an earlier run of the sweep" in capsys.readouterr().out
    finally:
        if unrelated is not None:
            stop_processes([unrelated.pid])
            unrelated.wait()
