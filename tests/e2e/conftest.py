"""End-to-end fixtures: each test gets its own Flower home and stops exactly the Flower processes it started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploy.staged_app import staged_app
from recmodel.processes import processes_started_with, stop_processes
from simulations.local_superlink import private_flower_env

REPO = Path(__file__).resolve().parents[2]

FLWR = Path(sys.executable).parent / "flwr"
FEDREC = Path(sys.executable).parent / "fedrec"


@pytest.fixture
def flwr_env(tmp_path):
    """Own Flower home and local SuperLink ports (simulations.local_superlink), so end-to-end tests run side by
    side on the xdist workers and never use or stop a SuperLink someone else started; afterwards exactly the
    processes this test started (found by its FLWR_HOME) are stopped."""
    home = tmp_path / "flwr-home"
    yield private_flower_env(home)
    stop_processes(processes_started_with(home))


@pytest.fixture(scope="session")
def staged_repo():
    """A staged copy of this repository's FAB files (``deploy.staged_app``, as ``fedrec run`` uses): ``flwr run``
    on it skips resolving every file of the virtual environment in the repository."""
    with staged_app(REPO) as staged:
        yield staged


def flwr_run(env, cwd: Path, run_config: str, app: Path = REPO) -> str:
    """``flwr run --stream`` of ``app`` (default: this repository) with 2 simulated partners; asserts exit 0,
    returns the console."""
    proc = subprocess.run(
        [str(FLWR), "run", str(app), "--stream", "--run-config", run_config,
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
