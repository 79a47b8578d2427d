"""Processes this code started, found and stopped by pid (never by name: other runs share the machine).

Used by ``fedrec run`` (the local SuperLink it started), ``fedrec deploy local`` (its SuperLink and
SuperNodes), the sweeps, the chaos command and the end-to-end tests (every process of a private Flower home).
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


def command_line(pid: int) -> bytes:
    """``pid``'s command line as the kernel keeps it (arguments separated by NUL bytes); b"" once it has ended
    (a zombie's is empty too)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process: it exists and is not a zombie (one that exited and waits to be reaped
    by its parent, which may be this process's ``Popen``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # the state field follows the parenthesised program name


def stop_processes(pids, grace_s: float = 20.0) -> list[int]:
    """SIGTERM each pid, wait up to ``grace_s`` seconds for all to exit, then SIGKILL those still running;
    returns the pids that were running when it was called."""
    running = [pid for pid in sorted(pids) if is_running(pid)]
    found = list(running)
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
            break
    return found
