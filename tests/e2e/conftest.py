"""End-to-end fixtures: each test gets its own Flower home and stops exactly the Flower processes it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FLWR = Path(sys.executable).parent / "flwr"
FEDREC = Path(sys.executable).parent / "fedrec"


def processes_started_with(flwr_home: Path) -> list[int]:
    """Pids of processes whose environment holds ``FLWR_HOME=<flwr_home>``: only those this test started."""
    marker = f"FLWR_HOME={flwr_home}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_processes(pids: list[int], grace_s: float = 20.0) -> None:
    """SIGTERM each pid, wait up to ``grace_s`` seconds for all to exit, then SIGKILL the rest."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            time.sleep(0.2)


@pytest.fixture
def flwr_env(tmp_path):
    """Isolated Flower home and local SuperLink ports, no runtime dependency install.

    ``flwr run`` starts a local SuperLink on fixed ports (39091, 39093) unless told otherwise, and reuses any
    SuperLink it finds there, even one another test (or another user's run on this machine) started and is about to
    stop. Each test therefore gets its own ports, so end-to-end tests can run side by side on the xdist workers.
    After the test, exactly the processes it started (found by its FLWR_HOME) are stopped.
    """
    home = tmp_path / "flwr-home"
    env = dict(os.environ, FLWR_HOME=str(home), FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1",
               FLWR_LOCAL_SUPERLINK_HTTP_API_PORT=str(free_port()), FLWR_LOCAL_CONTROL_API_PORT=str(free_port()))
    yield env
    stop_processes(processes_started_with(home))


def flwr_run(env, cwd: Path, run_config: str) -> str:
    """``flwr run --stream`` of this repository with 2 simulated partners; asserts exit 0, returns the console."""
    proc = subprocess.run(
        [str(FLWR), "run", str(REPO), "--stream", "--run-config", run_config,
         "--federation-config", "num-supernodes=2"],
        env=env, capture_output=True, text=True, timeout=600, cwd=cwd,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    return output


def fedrec_run(env, cwd: Path, run_config: str, *, partners: int = 2, background: bool = False):
    """``fedrec run`` (flwr run --stream with an honest exit status) on this repository."""
    command = [str(FEDREC), "run", str(REPO), "--run-config", run_config,
               "--federation-config", f"num-supernodes={partners}"]
    if background:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
