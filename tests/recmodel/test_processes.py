"""recmodel.processes.stop_processes: real child processes, stopped by pid; an exited child that is not yet reaped counts as stopped."""

from __future__ import annotations

import subprocess
import sys
import time

from recmodel.processes import command_line, is_running, stop_processes

IGNORES_SIGTERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); " \
                  "time.sleep(60)"


def test_a_child_stopped_by_sigterm_is_not_waited_for_while_it_waits_to_be_reaped():
    child = subprocess.Popen(["sleep", "60"])
    start = time.monotonic()
    stop_processes([child.pid], grace_s=10.0)
    assert time.monotonic() - start < 5.0  # a zombie of ours is stopped, not a process to wait 2 x 10 s for
    assert not is_running(child.pid)
    assert child.wait(timeout=5) == -15  # SIGTERM, and its status is still there for its Popen


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period():
    child = subprocess.Popen([sys.executable, "-c", IGNORES_SIGTERM], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    start = time.monotonic()
    stop_processes([child.pid], grace_s=1.0)
    assert 1.0 <= time.monotonic() - start < 5.0
    assert child.wait(timeout=5) == -9


def test_a_pid_that_is_gone_is_not_running():
    child = subprocess.Popen(["true"])
    child.wait()
    assert not is_running(child.pid)


def test_a_command_line_is_read_while_the_process_runs_and_empty_once_it_has_ended():
    script = "import time; print('ready', flush=True); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\n"  # running its own code: the command line is set
    assert command_line(child.pid) == b"\0".join([sys.executable.encode(), b"-c", script.encode(), b""])
    child.kill()
    child.wait()
    child.stdout.close()
    assert command_line(child.pid) == b""
