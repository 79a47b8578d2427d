"""``fedrec-superexec``: a site's Flower SuperExec whose ClientApp processes start with their libraries loaded.

A SuperNode runs every message (site check, pre-flight, each round's training and evaluation) in a fresh
``flwr-clientapp`` process, and that process spent most of its life importing torch, Opacus (which pulls in
``torch.distributed`` and sympy), pandas and pyarrow: about 4 s of CPU per message alone, several times that with
three sites sharing two cores. This is ``flower-superexec`` with the same arguments and the same task loop,
except that it starts ClientApp processes by forking a server process that imported those libraries once
(``multiprocessing``'s forkserver). Each message still gets its own process, which imports the app from the
run's FAB exactly as ``flwr-clientapp`` does: only third-party libraries are preloaded, never fedrec's code, so
a site runs the code of the run it serves.

A site runs it next to a SuperNode started with ``--isolation process`` (``deploy.commands``)::

    flower-supernode ... --isolation process --runtime-api-address 127.0.0.1:9094
    fedrec-superexec --runtime-api-address 127.0.0.1:9094 --insecure
"""

from __future__ import annotations

import multiprocessing
import os
import sys

import flwr.supercore.superexec.run_superexec as superexec_loop
from flwr.supercore.cli import flower_superexec  # the command's function (the package exports it)
from flwr.supercore.constant import TaskType
from flwr.supercore.superexec.executor.subprocess_executor import SubprocessExecutor
from flwr.supercore.superexec.executor.types import ExecutionSpec, LaunchResult

TASK_POLL_ENV = "FLWR_SUPEREXEC_TASK_POLL_INTERVAL"  # Flower's default: a new message waits up to 1 s for its process
TASK_POLL_SECONDS = 0.2  # a request to the SuperNode on loopback five times a second

# Imported once by the fork server; the heavy part of every ClientApp process (python -X importtime).
PRELOADED_LIBRARIES = ("torch", "opacus", "scipy.stats", "numpy", "pandas", "pyarrow.parquet",
                       "flwr.clientapp", "flwr.supernode.cli.flwr_clientapp")


def clientapp_argv(spec: ExecutionSpec) -> list[str]:
    """The ``flwr-clientapp`` command line Flower's subprocess executor would run for ``spec``."""
    argv = ["flwr-clientapp", "--runtime-api-address", spec.runtime_api_address, "--token", spec.token]
    if spec.insecure:
        argv.append("--insecure")
    elif spec.root_certificates_path is not None:
        argv += ["--root-certificates", spec.root_certificates_path]
    if spec.parent_pid is not None:
        argv += ["--parent-pid", str(spec.parent_pid)]
    if spec.runtime_dependency_install:
        argv.append("--allow-runtime-dependency-installation")
    return argv


def _run_clientapp(argv: list[str], suppress_output: bool) -> None:
    """In the forked process: exactly what the ``flwr-clientapp`` command does."""
    if suppress_output:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    from flwr.supernode.cli.flwr_clientapp import flwr_clientapp

    sys.argv = argv
    flwr_clientapp()


def prewarmed_processes():
    """A multiprocessing context whose processes fork from one server that imported ``PRELOADED_LIBRARIES``."""
    forks = multiprocessing.get_context("forkserver")
    forks.set_forkserver_preload(list(PRELOADED_LIBRARIES))
    return forks


class PrewarmedClientAppExecutor(SubprocessExecutor):
    """Flower's subprocess executor, except that ClientApp processes fork from a server with the libraries loaded."""

    def __init__(self) -> None:
        self._forks = prewarmed_processes()
        self._running: list[multiprocessing.process.BaseProcess] = []

    def launch(self, spec: ExecutionSpec) -> LaunchResult:
        if spec.task_type != TaskType.CLIENT_APP:
            return super().launch(spec)
        process = self._forks.Process(target=_run_clientapp, args=(clientapp_argv(spec), spec.suppress_output),
                                      name=f"flwr-clientapp task {spec.task_id}")
        try:
            process.start()
        except OSError as error:
            return LaunchResult.failed(f"the ClientApp process did not start: {error}")
        self._running.append(process)
        return LaunchResult.accepted()

    def reconcile(self) -> None:
        """Reap the ClientApp processes that have ended (their status went to the SuperNode already)."""
        still = []
        for process in self._running:
            if process.is_alive():
                still.append(process)
            else:
                process.join()
        self._running = still


def main() -> None:
    """``flower-superexec``'s command line, with the pre-warmed ClientApp executor."""
    if not hasattr(superexec_loop, "get_executor"):  # flwr is pinned; a release that moves it fails loudly here
        raise SystemExit("fedrec-superexec: this flwr release has no run_superexec.get_executor to replace")
    superexec_loop.get_executor = lambda *args, **kwargs: PrewarmedClientAppExecutor()
    os.environ.setdefault(TASK_POLL_ENV, str(TASK_POLL_SECONDS))
    flower_superexec()
