"""End-to-end runs neither use nor disturb a SuperLink someone else started on this machine."""

import os
import socket
import subprocess
import time
from pathlib import Path

from simulations.local_superlink import stop_processes
from tests.e2e.conftest import FLWR, flwr_run
from tests.e2e.test_flwr_run import TINY_RUN

FLOWER_DEFAULT_LOCAL_PORT = 39091  # where ``flwr run`` looks for (and starts) its local SuperLink by default


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


def test_a_run_passes_beside_an_unrelated_superlink_and_leaves_it_running(flwr_env, tmp_path):
    unrelated = start_unrelated_superlink(tmp_path / "someone-else")
    try:
        out_dir = tmp_path / "runs"
        output = flwr_run(flwr_env, tmp_path, f"num-server-rounds=1 {TINY_RUN} output-dir='{out_dir}' run-name='beside'")
        assert f"artifacts in {out_dir / 'beside'}" in output
        assert (Path(flwr_env["FLWR_HOME"]) / "local-superlink" / "superlink.log").is_file()  # its own SuperLink
        assert unrelated is None or unrelated.poll() is None  # the other one is untouched
        assert port_is_taken(FLOWER_DEFAULT_LOCAL_PORT)
    finally:
        if unrelated is not None:
            stop_processes([unrelated.pid])
            unrelated.wait()
