import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recmodel.privacy.accounting import epsilon_of
from recmodel.privacy.ledger import GENESIS_HASH, DPEvent, LedgerIntegrityError, PrivacyLedger, entry_hash
from recmodel.privacy.ledger_recovery import acknowledge_ledger_loss
from recmodel.privacy.site_key import head_message, read_public_key, verify
from recmodel.training.release_plan import CALIBRATION_FILE, plan_releases, run_sizes


def _event(round_, epsilon):
    return DPEvent(run_id="r", round=round_, model="dlrm", noise_multiplier=1.1, sample_rate=0.1, steps=10,
                   max_grad_norm=0.5, privacy_unit="user", delta=1e-5, epsilon=epsilon,
                   accountant="opacus-prv 1.6.0", population=100, timestamp=1.0, partner="p", max_epsilon=10.0)


def test_entries_are_chained_and_synced(tmp_path):
    ledger = PrivacyLedger(tmp_path / "sub" / "ledger.jsonl")
    first = ledger.append(_event(1, 1.0))
    second = ledger.append(_event(2, 1.5))
    assert first["prev_hash"] == GENESIS_HASH
    assert second["prev_hash"] == first["hash"]
    assert all(entry_hash(e) == e["hash"] for e in ledger.entries())
    assert ledger.history() == [(1.1, 0.1, 10), (1.1, 0.1, 10)]
    assert os.path.getsize(ledger.path) > 0


def test_editing_a_number_breaks_the_hash(tmp_path):
    ledger = PrivacyLedger(tmp_path / "ledger.jsonl")
    ledger.append(_event(1, 1.0))
    entry = ledger.entries()[0]
    entry["epsilon"] = 0.5
    assert entry_hash(entry) != entry["hash"]
    assert json.loads(ledger.path.read_text())["epsilon"] == 1.0


def test_a_site_ledger_signs_entries_and_keeps_its_key_private(tmp_path):
    ledger = PrivacyLedger.at_site(tmp_path)
    entry = ledger.append(_event(1, 1.0))
    assert verify(read_public_key(tmp_path), entry["hash"].encode(), entry["signature"])
    assert (tmp_path / "site_key.pem").stat().st_mode & 0o777 == 0o600
    head = json.loads((tmp_path / "head.json").read_text())
    assert head["entries"] == 1 and head["head"] == entry["hash"]
    assert verify(read_public_key(tmp_path), head_message("p", 1, entry["hash"]), head["signature"])


@pytest.mark.parametrize("damage", ["truncate", "empty", "delete", "delete-with-head"])
def test_a_site_that_lost_ledger_entries_refuses_to_release(tmp_path, damage):
    ledger = PrivacyLedger.at_site(tmp_path)
    ledger.append(_event(1, 1.0))
    ledger.append(_event(2, 1.5))
    lines = ledger.path.read_text().splitlines(keepends=True)
    if damage == "truncate":
        ledger.path.write_text(lines[0])
    elif damage == "empty":
        ledger.path.write_text("")
    else:
        ledger.path.unlink()
        if damage == "delete-with-head":
            (tmp_path / "head.json").unlink()
    with pytest.raises(LedgerIntegrityError, match=f"state dir {tmp_path}"):
        with PrivacyLedger.at_site(tmp_path).reserved():
            pass


def test_a_fresh_site_and_an_intact_ledger_may_release(tmp_path):
    with PrivacyLedger.at_site(tmp_path / "fresh").reserved():
        pass
    ledger = PrivacyLedger.at_site(tmp_path / "used")
    ledger.append(_event(1, 1.0))
    with ledger.reserved():
        ledger.append(_event(2, 1.5))
    assert len(ledger.entries()) == 2


RACER = """
import sys, time
from recmodel.privacy.budget import BudgetExhausted, PlannedRelease, check_budget
from recmodel.privacy.accounting import epsilon_of
from recmodel.privacy.ledger import DPEvent, PrivacyLedger
ledger = PrivacyLedger.at_site(sys.argv[1])
plan = PlannedRelease(1.0, 0.1, 60)
with ledger.reserved():
    try:
        projected = check_budget(ledger.history(), [plan], delta=1e-5, accountant="prv", cap=7.0, partner="p")
    except BudgetExhausted:
        print("refused", flush=True)
        sys.exit(0)
    time.sleep(1.0)  # training takes a while: a second run checks its budget meanwhile
    ledger.append(DPEvent(run_id=sys.argv[2], round=1, model="dlrm", noise_multiplier=1.0, sample_rate=0.1,
                          steps=60, max_grad_norm=0.5, privacy_unit="user", delta=1e-5, epsilon=projected,
                          accountant="opacus-prv 1.6.0", population=100, timestamp=0.0, partner="p", max_epsilon=7.0))
    print("released", flush=True)
"""


def test_two_runs_sharing_a_state_dir_cannot_both_pass_the_cap(tmp_path):
    """Each release alone fits the cap of 7.0 (epsilon 5.86), two do not (7.93): the ledger lock lets exactly one through."""
    PrivacyLedger.at_site(tmp_path).append(_event(1, 0.5))
    runs = [subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path), f"run-{i}"], stdout=subprocess.PIPE,
                             text=True) for i in range(2)]
    outcomes = sorted(run.communicate(timeout=120)[0].strip() for run in runs)
    assert outcomes == ["refused", "released"]
    assert [e["run_id"] for e in PrivacyLedger(tmp_path / "ledger.jsonl").entries()][1:] in (["run-0"], ["run-1"])


def test_an_acknowledged_loss_carries_the_signed_spend_into_a_new_ledger(tmp_path):
    ledger = PrivacyLedger.at_site(tmp_path)
    ledger.append(_event(1, 1.0))
    ledger.append(_event(2, 1.5))
    spent = epsilon_of(ledger.history(), delta=1e-5, accountant="prv")
    ledger.path.write_text(ledger.path.read_text().splitlines(keepends=True)[0])  # the last entry is lost
    fedrec = [str(Path(sys.executable).parent / "fedrec"), "site", "acknowledge-ledger-loss", str(tmp_path)]
    refused = subprocess.run(fedrec, capture_output=True, text=True)
    assert refused.returncode == 2 and "--note" in refused.stderr
    done = subprocess.run(fedrec + ["--note", "ops: disk failure, no backup"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    carried = PrivacyLedger.at_site(tmp_path)
    with carried.reserved():  # the site may release again...
        pass
    entries = carried.entries()
    assert [e["model"] for e in entries] == ["carried-over"]
    assert entries[0]["steps"] == 20 and "ops: disk failure" in entries[0]["run_id"]
    assert epsilon_of(carried.history(), delta=1e-5, accountant="prv") == pytest.approx(spent)  # ...nothing forgotten
    assert len(list(tmp_path.glob("ledger.jsonl.damaged-*"))) == 1  # the damaged ledger is kept
    again = subprocess.run(fedrec + ["--note", "twice"], capture_output=True, text=True)
    assert again.returncode == 2 and "nothing to acknowledge" in again.stderr


def test_a_partial_last_line_is_diagnosed_in_one_line_and_its_repair_keeps_the_spend(tmp_path):
    ledger = PrivacyLedger.at_site(tmp_path)
    ledger.append(_event(1, 1.0))
    ledger.append(_event(2, 1.5))
    spent = epsilon_of(ledger.history(), delta=1e-5, accountant="prv")
    with ledger.path.open("a") as handle:  # a third append cut short by a full disk: no newline, no head update
        handle.write('{"run_id": "r", "round": 3, "mod')
    with pytest.raises(LedgerIntegrityError, match="line 3, the last, is incomplete") as caught:
        PrivacyLedger.at_site(tmp_path).check_continuity()
    assert "\n" not in str(caught.value) and "acknowledge-ledger-loss" in str(caught.value)
    acknowledge_ledger_loss(tmp_path, note="disk full")
    assert epsilon_of(PrivacyLedger.at_site(tmp_path).history(), delta=1e-5, accountant="prv") == pytest.approx(spent)


def test_an_empty_or_garbled_calibration_cache_is_recomputed_not_a_traceback(tmp_path, tiny_config):
    sizes = run_sizes(tiny_config, dlrm_examples=60, profile_examples=60)
    first = plan_releases(tiny_config, sizes, tmp_path, "r", evaluations=2)
    for damage in ("", "{not json", "[1, 2]"):
        (tmp_path / CALIBRATION_FILE).write_text(damage)
        assert plan_releases(tiny_config, sizes, tmp_path, "r", evaluations=2) == first
