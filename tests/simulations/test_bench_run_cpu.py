"""bench_run_cpu: CPU seconds per program over the processes of one Flower home."""

from __future__ import annotations

import os
import sys

from simulations.bench_run_cpu import profile, program_of

BUSY_CHILD = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
              "'import time\\nend = time.process_time() + 1.0\\nwhile time.process_time() < end: pass'])")


def test_programs_are_named_as_people_name_them():
    assert program_of(b"ray::ClientAppActor.run\0") == "ray::ClientAppActor.run"
    assert program_of(b"/venv/bin/python3\0/venv/bin/flwr-simulation\0--token\0t\0") == "flwr-simulation"
    assert program_of(b"/usr/bin/python3\0-c\0pass\0") == "python3"
    assert program_of(b"/ray/core/src/ray/raylet/raylet\0--node\0") == "raylet"
    assert program_of(b"") == "?"


def test_the_cpu_of_a_child_that_carries_the_flower_home_is_counted(tmp_path):
    home = tmp_path / "flwr-home"
    env = dict(os.environ, FLWR_HOME=str(home))
    result = profile([sys.executable, "-c", BUSY_CHILD], env, home, tmp_path, interval_s=0.05)
    assert result["exit_status"] == 0
    program = os.path.basename(sys.executable)
    assert list(result["cpu_s"]) == [program]
    assert 0.8 <= result["cpu_s"][program] <= result["wall_s"] + 0.5  # the child's busy second, sampled before it ended
