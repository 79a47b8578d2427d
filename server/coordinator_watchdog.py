"""Stop training when the coordinator goes away.

The ServerApp process (``flwr-simulation`` in simulation, ``flwr-serverapp``
in a deployment) is started by the SuperLink. If the SuperLink dies, nothing
would stop this process, and in simulation its Ray workers would go on
training partners (and spending their budgets) for a run nobody can finish.
A daemon thread watches the parent process; when it is gone, it shuts Ray
down, kills every process this one started (Ray's raylet, GCS, dashboard
agent and workers, which ``ray.shutdown()`` alone leaves behind for a while
on a loaded machine) and ends the process with exit status 1.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

POLL_SECONDS = 1.0


def stop_when_orphaned(*, poll_seconds: float = POLL_SECONDS) -> threading.Thread:
    """Start the watchdog for the current process (idempotent per process)."""
    for thread in threading.enumerate():
        if thread.name == "fedrec-coordinator-watchdog":
            return thread
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        print(f"fedrec: the coordinator process (pid {parent}) went away; stopping this run and its partner "
              "processes", file=sys.stderr, flush=True)
        started = descendants(os.getpid())
        try:
            import ray

            if ray.is_initialized():
                ray.shutdown()
        finally:  # also what started while Ray shut down (its dashboard agent may restart on a loaded machine)
            kill_all(sorted(set(started) | set(descendants(os.getpid()))))
            os._exit(1)

    thread = threading.Thread(target=watch, daemon=True, name="fedrec-coordinator-watchdog")
    thread.start()
    return thread


def descendants(root: int) -> list[int]:
    """Pids of every living process below ``root`` (children, grandchildren, ...), read from /proc.

    Returns an empty list where /proc is absent (not Linux).
    """
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we read
            continue
        fields = text[text.rfind(")") + 2:].split()  # the name in parentheses may hold spaces
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_all(pids: list[int]) -> None:
    """SIGKILL each pid that still exists; pids already gone are skipped."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
