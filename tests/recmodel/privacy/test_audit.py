import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from recmodel.model.bundle import Recommender
from recmodel.data.federated import load_federated_data, model_spec_for
from recmodel.privacy.audit import audit_ledger, audit_path
from simulations.defaults import default_run_config
from tests.conftest import TINY
from recmodel.privacy.ledger import DPEvent, PrivacyLedger
from recmodel.training.private_round import run_private_round


@pytest.fixture(scope="module")
def written_ledger(tmp_path_factory):
    """A ledger written by three real DP-SGD rounds of both models (profile, then DLRM)."""
    config = default_run_config(**{**TINY, "num_server_rounds": 3, "profiles": True})
    data = load_federated_data(config, num_partitions=2)
    folder = tmp_path_factory.mktemp("ledger")
    model = Recommender(model_spec_for(config, data))
    for server_round in (1, 2, 3):
        torch.manual_seed(server_round)
        run_private_round(model, data.catalogue, data.site_users(0), config, state_dir=folder, partner="p0",
                          run_id="r", server_round=server_round, max_epsilon=config.max_epsilon)
    return folder / "ledger.jsonl"


@pytest.fixture
def real_ledger(written_ledger, tmp_path):
    """A private copy of the written ledger, free to tamper with."""
    copy = tmp_path / "ledger.jsonl"
    copy.write_text(written_ledger.read_text())
    return copy


def _rewrite(path, lines):
    path.write_text("".join(lines))


def test_a_real_ledger_passes_and_matches_dp_accounting(real_ledger):
    audit = audit_ledger(real_ledger)
    assert audit.ok, audit.all_problems()
    assert [e.model for e in audit.entries] == ["profile", "dlrm"] * 3  # the combined epsilon is verified
    for entry in audit.entries:
        assert abs(entry.recorded - entry.pld) < 0.02
        assert entry.rdp > entry.pld  # RDP is the looser bound


def _known_event(**changes) -> DPEvent:
    """Noise 1.0, sample rate 0.01, 10,000 steps, delta 1e-5: PLD epsilon 6.19, RDP 6.71."""
    values = dict(run_id="known", round=1, model="dlrm", noise_multiplier=1.0, sample_rate=0.01, steps=10_000,
                  max_grad_norm=1.0, privacy_unit="user", delta=1e-5, epsilon=6.198, accountant="opacus-prv 1.6.0",
                  population=50_000, timestamp=0.0, partner="p", max_epsilon=10.0)
    return DPEvent(**{**values, **changes})


def test_known_setting_recomputed_by_both_accountants(tmp_path):
    ledger = PrivacyLedger(tmp_path / "ledger.jsonl")
    ledger.append(_known_event(max_epsilon=10.0))
    check = audit_ledger(ledger.path).entries[0]
    assert check.rdp == pytest.approx(6.71, abs=0.01)
    assert check.pld == pytest.approx(6.19, abs=0.01)
    assert check.ok


def test_editing_a_number_is_detected_on_its_line(real_ledger):
    lines = real_ledger.read_text().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["noise_multiplier"] *= 1.5
    lines[1] = json.dumps(entry, sort_keys=True) + "\n"
    _rewrite(real_ledger, lines)
    problems = audit_ledger(real_ledger).all_problems()
    assert any(p.startswith("line 2: content does not match its hash") for p in problems)


def test_deleting_a_line_is_detected(real_ledger):
    lines = real_ledger.read_text().splitlines(keepends=True)
    _rewrite(real_ledger, [lines[0], lines[2]])
    problems = audit_ledger(real_ledger).all_problems()
    assert any(p.startswith("line 2: prev_hash does not match") for p in problems)


def test_deleting_the_last_line_is_caught_by_the_run_reports_anchor(real_ledger):
    head = json.loads(real_ledger.read_text().splitlines()[-1])["hash"]
    lines = real_ledger.read_text().splitlines(keepends=True)
    _rewrite(real_ledger, lines[:2])
    problems = audit_ledger(real_ledger, anchor={"ledger_entries": 3, "ledger_head": head}).all_problems()
    assert any("line(s) 3..3 were deleted" in p for p in problems)


def test_reordering_lines_is_detected(real_ledger):
    lines = real_ledger.read_text().splitlines(keepends=True)
    _rewrite(real_ledger, [lines[1], lines[0], lines[2]])
    problems = audit_ledger(real_ledger).all_problems()
    assert any(p.startswith("line 1: prev_hash does not match") for p in problems)


def test_entry_above_its_cap_fails_even_with_a_valid_chain(tmp_path):
    ledger = PrivacyLedger(tmp_path / "ledger.jsonl")
    ledger.append(_known_event(max_epsilon=5.0))
    problems = audit_ledger(ledger.path).all_problems()
    assert any("exceeds the cap 5" in p for p in problems)


def test_delta_not_below_one_over_population_fails(tmp_path):
    ledger = PrivacyLedger(tmp_path / "ledger.jsonl")
    ledger.append(_known_event(noise_multiplier=5.0, sample_rate=0.1, steps=10, delta=0.05, epsilon=0.0,
                               population=50, max_epsilon=5.0))
    assert any("not below 1/population" in p for p in audit_ledger(ledger.path).all_problems())


def test_cli_exit_status_and_json(real_ledger):
    fedrec = [str(Path(sys.executable).parent / "fedrec"), "audit"]  # the installed console script
    good = subprocess.run(fedrec + [str(real_ledger.parent)], capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "overall: PASS" in good.stdout
    as_json = json.loads(subprocess.run(fedrec + [str(real_ledger), "--json"], capture_output=True, text=True).stdout)
    assert as_json["ok"] is True and len(as_json["ledgers"][0]["entries"]) == 6
    real_ledger.write_text(real_ledger.read_text().replace('"round": 2', '"round": 7'))
    bad = subprocess.run(fedrec + [str(real_ledger)], capture_output=True, text=True)
    assert bad.returncode == 1 and "line 3: content does not match its hash" in bad.stdout


KILLED_PARTNER = textwrap.dedent(
    """
    import sys, time, torch
    from recmodel.data.federated import load_federated_data, model_spec_for
    from recmodel.model.bundle import Recommender
    from recmodel.training.private_round import run_private_round
    from tests.conftest import TINY
    from simulations.defaults import default_run_config
    config = default_run_config(**TINY)
    data = load_federated_data(config, num_partitions=2)
    run_private_round(Recommender(model_spec_for(config, data)), data.catalogue, data.site_users(0), config,
                      state_dir=__import__("pathlib").Path(sys.argv[1]), partner="p0", run_id="k",
                      server_round=1, max_epsilon=config.max_epsilon)
    print("update ready to send", flush=True)  # the ClientApp would now return the reply
    time.sleep(600)
    """
)


def test_sigkill_after_the_update_is_ready_leaves_the_round_counted(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", KILLED_PARTNER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                             cwd=os.getcwd())
    try:
        assert child.stdout.readline().strip() == "update ready to send"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    audits = audit_path(tmp_path)
    assert audits[0].ok and [(e.round, e.model) for e in audits[0].entries] == [(1, "dlrm")]


def test_sigkill_mid_training_leaves_no_partial_line(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", KILLED_PARTNER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    time.sleep(4.0)  # imports done, training under way or finished
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    ledger = tmp_path / "ledger.jsonl"
    if ledger.exists():  # finished before the kill: a whole, valid line
        assert audit_path(ledger)[0].ok
