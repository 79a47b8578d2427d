"""A real full disk (a tmpfs filled to its last byte) during a ledger append: the append fails, nothing is lost,
the site refuses with a one-line diagnosis, and the audit names the incomplete line."""

import json

import pytest

from recmodel.privacy.audit import audit_ledger
from recmodel.privacy.ledger import DamagedLedger, DPEvent, LedgerIntegrityError, PrivacyLedger
from simulations.full_disk import fill, tmpfs

PAGE = 4096  # tmpfs allocates whole pages: a write that needs a new page on a full tmpfs fails with ENOSPC


def _event(round_):
    return DPEvent(run_id="r", round=round_, model="dlrm", noise_multiplier=1.1, sample_rate=0.1, steps=10,
                   max_grad_norm=0.5, privacy_unit="user", delta=1e-5, epsilon=0.5 * round_,
                   accountant="opacus-prv 1.6.0", population=100, timestamp=1.0, partner="p", max_epsilon=10.0)


@pytest.fixture
def full_disk_state(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    with tmpfs(state, "1m") as mounted:
        if not mounted:
            pytest.skip("mounting a tmpfs is not allowed here (needs CAP_SYS_ADMIN)")
        yield state


def test_a_ledger_append_on_a_full_disk_fails_loses_nothing_and_the_site_refuses(full_disk_state):
    ledger = PrivacyLedger.at_site(full_disk_state)
    round_ = 1
    line = len(json.dumps(ledger.append(_event(round_)), sort_keys=True)) + 1
    while ledger.path.stat().st_size % PAGE + line <= PAGE:  # until the next line must cross into a new page
        round_ += 1
        ledger.append(_event(round_))
    before, head_before = ledger.path.read_text(), (full_disk_state / "head.json").read_text()
    fill(full_disk_state)

    with pytest.raises(OSError):
        ledger.append(_event(round_ + 1))

    written = ledger.path.read_text()
    assert written.startswith(before) and written != before  # every entry kept; half a line after them
    assert (full_disk_state / "head.json").read_text() == head_before  # the head still names the last whole entry
    with pytest.raises(DamagedLedger, match=r"line \d+, the last, is incomplete"):
        PrivacyLedger.at_site(full_disk_state).entries()
    (full_disk_state / "filler").unlink()  # space again: the site still refuses, the audit names the line
    with pytest.raises(LedgerIntegrityError):
        with PrivacyLedger.at_site(full_disk_state).reserved():
            pass
    audit = audit_ledger(ledger.path)
    assert not audit.ok
    assert any("not valid JSON" in problem for problem in audit.all_problems())
