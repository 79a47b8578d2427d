"""End-to-end fixtures: each test gets its own Flower home and stops exactly the Flower processes it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Every ``flwr run`` starts (or finds) the local SuperLink on the same fixed port, so two end-to-end tests at once
# would share one SuperLink, and the one that finishes first would stop it under the other's run. Each e2e module
# therefore sets ``pytestmark = ONE_WORKER``: with ``--dist loadgroup`` they all run on one worker, one at a time.
ONE_WORKER = pytest.mark.xdist_group("flower-superlink")
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


@pytest.fixture
def flwr_env(tmp_path):
    """Isolated FLWR_HOME, no runtime dependency install; stops the local SuperLink (and children) it started."""
    home = tmp_path / "flwr-home"
    env = dict(os.environ, FLWR_HOME=str(home), FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1")
    yield env
    for pid in processes_started_with(home):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def fedrec_run(env, cwd: Path, run_config: str, *, partners: int = 2, background: bool = False):
    """``fedrec run`` (flwr run --stream with an honest exit status) on this repository."""
    command = [str(FEDREC), "run", str(REPO), "--run-config", run_config,
               "--federation-config", f"num-supernodes={partners}"]
    if background:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
