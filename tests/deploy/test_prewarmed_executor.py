"""The site's SuperExec (``deploy.prewarmed_executor``): ClientApp processes fork with the libraries loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flwr.supercore.constant import TaskType
from flwr.supercore.superexec.executor.subprocess_executor import SubprocessExecutor
from flwr.supercore.superexec.executor.types import ExecutionSpec

from deploy.prewarmed_executor import PRELOADED_LIBRARIES, clientapp_argv, prewarmed_processes

CLIENT_IMPORT_CPU_BUDGET_S = 1.0  # importing fedrec's ClientApp once the libraries are loaded (0.19 s measured)

_IMPORT_CLIENT_APP = f"""
import importlib, json, sys, time
for name in {list(PRELOADED_LIBRARIES)!r}:
    importlib.import_module(name)
before = set(sys.modules)
start = time.process_time()
import client.app
print(json.dumps({{"cpu_s": time.process_time() - start,
                  "packages": sorted({{m.split('.')[0] for m in set(sys.modules) - before}})}}))
"""


def test_the_client_app_imports_nothing_heavy_beyond_the_preloaded_libraries():
    """The import-time budget of a message's process: fedrec's own modules only, within a CPU budget."""
    result = subprocess.run([sys.executable, "-c", _IMPORT_CLIENT_APP], capture_output=True, text=True, timeout=120,
                            check=True)
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(measured["packages"]) <= {"client", "recmodel"}, measured["packages"]
    assert measured["cpu_s"] < CLIENT_IMPORT_CPU_BUDGET_S, measured


def _loaded(names, queue) -> None:
    queue.put({name: name in sys.modules for name in names})


def test_forked_processes_start_with_the_libraries_but_not_fedrec_code():
    """fedrec's code is never preloaded: each message's process imports it from the run's FAB."""
    forks = prewarmed_processes()
    queue = forks.Queue()
    process = forks.Process(target=_loaded, args=(("torch", "opacus", "pandas", "client.app", "recmodel"), queue))
    process.start()
    loaded = queue.get(timeout=120)
    process.join(timeout=30)
    assert process.exitcode == 0
    assert loaded == {"torch": True, "opacus": True, "pandas": True, "client.app": False, "recmodel": False}


def test_the_clientapp_command_line_is_flowers(monkeypatch):
    """The forked process runs what Flower's subprocess executor would have run, argument for argument."""
    spec = ExecutionSpec(task_type=TaskType.CLIENT_APP, runtime_api_address="127.0.0.1:9094", token="t0ken",
                         insecure=True, root_certificates_path=None, runtime_dependency_install=False,
                         parent_pid=4242, suppress_output=False, task_id=7)
    launched = []
    monkeypatch.setattr(subprocess, "Popen", lambda args, **kwargs: launched.append(args))
    SubprocessExecutor().launch(spec)
    assert launched == [clientapp_argv(spec)]


def test_the_command_takes_flower_superexecs_arguments():
    result = subprocess.run([str(Path(sys.executable).parent / "fedrec-superexec"), "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--runtime-api-address" in result.stdout
