"""A private local SuperLink for scripted ``flwr run``s: own Flower home, own ports, stopped by pid.

``flwr run`` starts a local SuperLink on fixed ports (39091, 39093) unless told otherwise, and reuses any
SuperLink it finds there, even one another user started (and may stop under our run). Sweeps and the
end-to-end tests therefore run with their own ``FLWR_HOME`` and free ports, and afterwards stop exactly the
processes whose environment holds that ``FLWR_HOME``.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def private_flower_env(home: Path) -> dict[str, str]:
    """The current environment with its own Flower home and local SuperLink ports, no runtime installs."""
    return dict(os.environ, FLWR_HOME=str(home), FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1",
                FLWR_LOCAL_SUPERLINK_HTTP_API_PORT=str(free_port()), FLWR_LOCAL_CONTROL_API_PORT=str(free_port()))


def processes_started_with(flwr_home: Path) -> list[int]:
    """Pids of processes whose environment holds ``FLWR_HOME=<flwr_home>`` (this process excluded)."""
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


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process: it exists and is not a zombie (one that exited and waits to be reaped
    by its parent, which may be this process's ``Popen``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # the state field follows the parenthesised program name


def stop_processes(pids: list[int], grace_s: float = 20.0) -> None:
    """SIGTERM each pid, wait up to ``grace_s`` seconds for all to exit, then SIGKILL those still running."""
    running = list(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in running:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while (running := [pid for pid in running if is_running(pid)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not running:
            return
