"""`fedrec deploy local` waits for its processes, and stops waiting as soon as one of them has died."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from deploy.local_federation import STARTUP_TIMEOUT_S, LocalFederationError, _wait


def test_a_process_that_died_at_start_up_is_named_at_once(tmp_path):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait()
    started = time.monotonic()
    try:
        with pytest.raises(LocalFederationError) as error:
            _wait(lambda: False, {"site-1": alive, "site-1-superexec": dead}, "every SuperNode to connect", tmp_path)
    finally:
        alive.kill()
        alive.wait()
    assert time.monotonic() - started < min(5, STARTUP_TIMEOUT_S)
    assert str(error.value) == (f"waiting for every SuperNode to connect: site-1-superexec exited with status 3; "
                                f"see {tmp_path / 'site-1-superexec.log'}")


def test_the_wait_ends_when_ready(tmp_path):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    answers = iter([False, False, True])
    try:
        _wait(lambda: next(answers), {"superlink": alive}, "the SuperLink", tmp_path)
    finally:
        alive.kill()
        alive.wait()
