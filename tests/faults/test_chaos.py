"""Fault injection on real federations (``simulations.chaos``): one case per fault kind.

Each case asserts what the chaos command asserts: the command ends within its deadline after the fault, no
traceback on its console, no process of the case left running, and ``fedrec audit`` passes or fails only for
the named reason. ``python -m simulations.chaos --faults 20`` draws 20 of these at random. Four faults run in
the tests ``ELSEWHERE`` names instead, which check more of them (the deployment case, a SuperNode killed
mid-run, is its own test there).
"""

import pytest

from simulations.chaos import FAULTS, run_case


ELSEWHERE = {"kill-supernode": "tests/deploy/test_faults.py", "rogue-partner": "tests/e2e/test_rogue_partner.py",
             "kill-superlink": "tests/e2e/test_run_status.py", "interrupt": "tests/e2e/test_run_status.py"}


@pytest.mark.parametrize("fault", [fault for fault in FAULTS if fault not in ELSEWHERE])
def test_a_fault_is_survived_as_documented(tmp_path, fault):
    result = run_case(1, fault, after_round=1, work=tmp_path, deadline_s=180)
    if "could not mount a tmpfs" in result.detail:
        pytest.skip("disk-full needs to mount a tmpfs (CAP_SYS_ADMIN), which this machine refuses")
    assert result.ok, result.detail
