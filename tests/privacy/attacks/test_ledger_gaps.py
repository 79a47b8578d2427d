"""Attacks on a site's ledger by anyone with write access to its state directory.

Each case keeps what a weakened check looks at intact (the entry count and the last hash, or a self-consistent
chain) and changes what it does not look at; the real site and ``fedrec audit`` catch every one.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recmodel.config import ConfigError
from recmodel.privacy.accounting import epsilon_of
from recmodel.privacy.audit import audit_path
from recmodel.privacy.ledger import HEAD_FILE, LEDGER_FILE, DPEvent, LedgerIntegrityError, PrivacyLedger
from recmodel.privacy.ledger_recovery import acknowledge_ledger_loss
from recmodel.privacy.policy import SitePolicy
from recmodel.privacy.site_key import KEY_DIR_FILE, PRIVATE_KEY_FILE, use_key_dir

RELEASES = [(1.1, 0.05, 40)] * 4


@pytest.fixture
def site(tmp_path):
    """A site state dir with four signed DP-SGD releases (epsilon about 1.5)."""
    ledger = PrivacyLedger.at_site(tmp_path)
    for number in range(len(RELEASES)):
        ledger.append(DPEvent(
            run_id="r", round=number + 1, model="dlrm", noise_multiplier=1.1, sample_rate=0.05, steps=40,
            max_grad_norm=0.5, privacy_unit="user", delta=1e-5,
            epsilon=epsilon_of(RELEASES[:number + 1], delta=1e-5, accountant="prv"), accountant="opacus-prv 1.6.0",
            population=500, timestamp=0.0, partner="shop", max_epsilon=10.0))
    return tmp_path


def _weakened_continuity(state) -> bool:
    """The weakened site's check: the entry count and the last hash against the head, nothing else."""
    head = json.loads((state / HEAD_FILE).read_text())
    entries = PrivacyLedger.at_site(state).entries()
    return len(entries) >= head["entries"] and entries[head["entries"] - 1]["hash"] == head["head"]


def test_zeroed_steps_on_earlier_lines_pass_the_weakened_check_but_not_the_site(site):
    path = site / LEDGER_FILE
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for entry in lines[:-1]:
        entry["steps"] = 0  # hashes untouched: accounted epsilon would fall to one release's
    path.write_text("".join(json.dumps(entry, sort_keys=True) + "\n" for entry in lines))
    assert _weakened_continuity(site)
    with pytest.raises(LedgerIntegrityError, match="entry 1: its content does not match its hash"):
        PrivacyLedger.at_site(site).check_continuity()
    assert not all(audit.ok for audit in audit_path(site))


def test_a_tail_cut_ledger_without_its_head_fails_the_audit(site):
    path = site / LEDGER_FILE
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:2]))  # a whole, shorter chain
    (site / HEAD_FILE).unlink()
    audits = audit_path(site)
    assert all(not check.problems for audit in audits for check in audit.entries)  # every line checks out alone
    assert not all(audit.ok for audit in audits)
    assert any("no signed head anchors this ledger" in p for audit in audits for p in audit.all_problems())


def test_an_edited_head_is_neither_trusted_by_the_site_nor_carried_over(site):
    head = json.loads((site / HEAD_FILE).read_text())
    head["spend"] = [[1.1, 0.05, "poisson_subsampled_gaussian", 40]]  # a quarter of the real spend
    (site / HEAD_FILE).write_text(json.dumps(head, sort_keys=True))
    with pytest.raises(LedgerIntegrityError, match="does not carry the site's signature"):
        PrivacyLedger.at_site(site).check_continuity()
    assert any("the head was edited" in p for audit in audit_path(site) for p in audit.all_problems())
    (site / LEDGER_FILE).unlink()  # the operator then claims the ledger was lost
    with pytest.raises(LedgerIntegrityError, match="does not carry the site's signature"):
        acknowledge_ledger_loss(site, note="lost")


def test_a_garbled_head_is_a_named_refusal_not_a_traceback(site):
    (site / HEAD_FILE).write_text("{not json")
    with pytest.raises(LedgerIntegrityError, match="head.json cannot be read"):
        PrivacyLedger.at_site(site).check_continuity()


def test_a_misspelt_policy_key_is_an_error_naming_it():
    with pytest.raises(ConfigError, match="unknown key 'max-epsilom'; did you mean 'max-epsilon'"):
        SitePolicy.from_mapping({"max-epsilon": 8.0, "max-epsilom": 1.0}, partner="shop", source="node config")


def test_a_key_kept_apart_signs_the_ledger_and_losing_its_pointer_is_refused(tmp_path):
    state, keys = tmp_path / "state", tmp_path / "keys"
    use_key_dir(state, keys)
    ledger = PrivacyLedger.at_site(state)
    ledger.append(DPEvent(run_id="r", round=1, model="dlrm", noise_multiplier=1.1, sample_rate=0.05, steps=40,
                          max_grad_norm=0.5, privacy_unit="user", delta=1e-5,
                          epsilon=epsilon_of(RELEASES[:1], delta=1e-5, accountant="prv"), accountant="opacus-prv 1.6.0",
                          population=500, timestamp=0.0, partner="shop", max_epsilon=10.0))
    assert (keys / PRIVATE_KEY_FILE).exists() and not (state / PRIVATE_KEY_FILE).exists()
    PrivacyLedger.at_site(state).check_continuity()
    assert all(audit.ok for audit in audit_path(state))  # the public key is kept beside the ledger
    (state / KEY_DIR_FILE).unlink()  # the site would otherwise make a new key and re-sign an edited ledger
    with pytest.raises(LedgerIntegrityError, match="but the site finds no key"):
        PrivacyLedger.at_site(state).check_continuity()


def _release(state, number: int) -> dict:
    """Append the ``number``-th (1-based) release of ``RELEASES`` at the site; returns its signed head."""
    ledger = PrivacyLedger.at_site(state)
    ledger.append(DPEvent(
        run_id="r", round=number, model="dlrm", noise_multiplier=1.1, sample_rate=0.05, steps=40,
        max_grad_norm=0.5, privacy_unit="user", delta=1e-5,
        epsilon=epsilon_of(RELEASES[:number], delta=1e-5, accountant="prv"), accountant="opacus-prv 1.6.0",
        population=500, timestamp=0.0, partner="shop", max_epsilon=10.0))
    return {"round": number, "kind": "train", **ledger.signed_head("shop")}


def _carried_epsilon(state) -> float:
    return PrivacyLedger.at_site(state).entries()[-1]["epsilon"]


def test_a_head_restored_from_an_old_backup_cannot_lower_the_spend_below_the_coordinators_copy(tmp_path):
    """The operator restores head.json from a backup taken after release 1 and claims the ledger was lost;
    the coordinator's report holds the site's signed head of release 4, which the recovery carries over."""
    state, weakened = tmp_path / "site", tmp_path / "weakened"
    heads = [_release(state, number) for number in range(1, 5)]
    backup = json.loads(json.dumps(heads[0]))
    backup.pop("releases"), backup.pop("round"), backup.pop("kind")
    (state / HEAD_FILE).write_text(json.dumps(backup))
    (state / LEDGER_FILE).unlink()
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"partners": {"shop": {"signed_heads": heads}}}))

    shutil.copytree(state, weakened)  # the weakened recovery reads head.json alone
    acknowledge_ledger_loss(weakened, note="lost")
    assert _carried_epsilon(weakened) == pytest.approx(epsilon_of(RELEASES[:1], delta=1e-5, accountant="prv"))

    fedrec = [str(Path(sys.executable).parent / "fedrec"), "site", "acknowledge-ledger-loss", str(state)]
    done = subprocess.run(fedrec + ["--note", "lost", "--evidence", str(report)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _carried_epsilon(state) == pytest.approx(epsilon_of(RELEASES, delta=1e-5, accountant="prv"),
                                                       rel=1e-3)
    assert all(audit.ok for audit in audit_path(state))


def test_recovery_refuses_when_a_later_signed_head_has_no_spend_and_ignores_forged_copies(tmp_path):
    heads = [_release(tmp_path, number) for number in range(1, 4)]
    (tmp_path / LEDGER_FILE).unlink()
    (tmp_path / HEAD_FILE).unlink()
    forged = {**heads[2], "spend": [[1.1, 0.05, "gaussian-dp-sgd", 1]]}  # the spend edited, the signature kept
    with pytest.raises(LedgerIntegrityError, match="no head with a spend carries the site's signature"):
        acknowledge_ledger_loss(tmp_path, note="lost", evidence=[forged])
    older_style = {k: heads[2][k] for k in ("partner", "entries", "head", "signature", "key_id")}
    with pytest.raises(LedgerIntegrityError, match="signed a head with 3 entries, but the latest signed spend"):
        acknowledge_ledger_loss(tmp_path, note="lost", evidence=[heads[0], older_style])
