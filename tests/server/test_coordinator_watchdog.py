"""The watchdog finds and stops every process the ServerApp process started, grandchildren included."""

import os
import subprocess
import sys
import time

from recmodel.processes import is_running
from server.coordinator_watchdog import descendants, kill_all


def test_descendants_include_grandchildren_and_kill_all_stops_them():
    grandparent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time; "
                               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"])
    try:
        deadline = time.time() + 20
        while len(found := descendants(grandparent.pid)) < 1 and time.time() < deadline:
            time.sleep(0.05)
        assert len(found) == 1
        assert grandparent.pid in descendants(os.getpid())
        kill_all(found + [grandparent.pid])
        grandparent.wait(timeout=10)
        deadline = time.time() + 10
        while is_running(found[0]) and time.time() < deadline:
            time.sleep(0.05)
        assert not is_running(found[0])
    finally:
        grandparent.kill()
        grandparent.wait()


def test_kill_all_skips_pids_that_are_gone():
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    kill_all([ended.pid])  # no error

