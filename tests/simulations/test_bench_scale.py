"""bench_scale's memory sampling reads real /proc figures of the processes it is given."""

import os

from simulations.bench_scale import PeakMemory, resident_mib


def test_resident_memory_of_this_process_is_positive_and_a_vanished_pid_counts_zero():
    mine = resident_mib([os.getpid()])
    assert 1 < mine < 100_000
    assert resident_mib([2**22 + 12345]) == 0.0  # above Linux's largest pid: no such process


def test_peak_memory_of_a_home_no_process_uses_is_zero(tmp_path):
    with PeakMemory(tmp_path / "flwr-home", interval_s=0.01) as memory:
        pass
    assert memory.peak_mib == 0.0
