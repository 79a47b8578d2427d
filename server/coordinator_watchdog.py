"""Stop training when the coordinator goes away.

The ServerApp process (``flwr-simulation`` in simulation, ``flwr-serverapp``
in a deployment) is started by the SuperLink. If the SuperLink dies, nothing
would stop this process, and in simulation its Ray workers would go on
training partners (and spending their budgets) for a run nobody can finish.
A daemon thread watches the parent process; when it is gone, it shuts Ray
down and ends the process with exit status 1.
"""

from __future__ import annotations

import os
import sys
import threading
import time

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
        try:
            import ray

            if ray.is_initialized():
                ray.shutdown()
        finally:
            os._exit(1)

    thread = threading.Thread(target=watch, daemon=True, name="fedrec-coordinator-watchdog")
    thread.start()
    return thread
