"""The chaos command's draw: every fault at least once, deployments capped, reproducible from the seed."""

from collections import Counter

from simulations.chaos import FAULTS, ROUNDS, draw_cases


def test_twenty_cases_hold_every_fault_and_at_most_two_deployments():
    cases = draw_cases(20, seed=0)
    counts = Counter(fault for fault, _ in cases)
    assert len(cases) == 20 and set(counts) == set(FAULTS)
    assert counts["kill-supernode"] <= 2
    assert all(1 <= after <= ROUNDS - 2 for _, after in cases)
    assert draw_cases(20, seed=0) == cases and draw_cases(20, seed=1) != cases


def test_asking_for_one_fault_draws_only_it():
    assert {fault for fault, _ in draw_cases(5, seed=3, faults=("kill-supernode",))} == {"kill-supernode"}
    assert {fault for fault, _ in draw_cases(3, seed=3, faults=("interrupt", "disk-full"))} <= {"interrupt", "disk-full"}
