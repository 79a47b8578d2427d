import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from scipy.optimize import brentq
from scipy.stats import norm

from recmodel.model.bundle import Recommender
from recmodel.data.federated import load_federated_data, model_spec_for
from recmodel.privacy.accounting import epsilon_of
from recmodel.privacy.audit import audit_ledger, audit_path
from simulations.defaults import default_run_config
from tests.conftest import TINY
from recmodel.privacy.ledger import GENESIS_HASH, DPEvent, PrivacyLedger, entry_hash
from recmodel.privacy.site_key import PUBLIC_KEY_FILE, SiteKey
from recmodel.training.private_round import run_private_round


@pytest.fixture(scope="module")
def written_site(tmp_path_factory):
    """A site state dir written by three real DP-SGD rounds of both models (profile, then DLRM)."""
    config = default_run_config(**{**TINY, "num_server_rounds": 3, "profiles": True})
    data = load_federated_data(config, num_partitions=2)
    folder = tmp_path_factory.mktemp("site")
    model = Recommender(model_spec_for(config, data))
    heads = []
    for server_round in (1, 2, 3):
        torch.manual_seed(server_round)
        outcome = run_private_round(model, data.catalogue, data.site_users(0), config, state_dir=folder,
                                    partner="p0", run_id="r", server_round=server_round,
                                    max_epsilon=config.max_epsilon)
        heads.append(dict(outcome.signed_head, round=server_round, kind="train"))
    record = {"name": "p0", "public_key": (folder / PUBLIC_KEY_FILE).read_text(), "signed_heads": heads,
              "releases": heads[-1]["releases"], "ledger_entries": heads[-1]["entries"]}
    return folder, record


@pytest.fixture
def site(written_site, tmp_path):
    """A private copy of the written state dir (ledger, head, keys) and the coordinator's record, free to tamper with."""
    folder, record = written_site
    copy = tmp_path / "site"
    shutil.copytree(folder, copy)
    return copy, json.loads(json.dumps(record))


def _rewrite(path, lines):
    path.write_text("".join(lines))


def _problems(site_dir, record=None, **kwargs):
    return audit_ledger(site_dir / "ledger.jsonl", recorded=record, **kwargs).all_problems()


def test_a_real_ledger_passes_and_matches_dp_accounting(site):
    folder, record = site
    audit = audit_ledger(folder / "ledger.jsonl", recorded=record)
    assert audit.ok, audit.all_problems()
    assert [e.model for e in audit.entries] == ["profile", "dlrm"] * 3  # the combined epsilon is verified
    for entry in audit.entries:
        assert abs(entry.recorded - entry.pld) < 0.02
        assert entry.rdp > entry.pld  # RDP is the looser bound
    assert {kind: r["count"] for kind, r in audit.releases.items()} == {"profile": 3, "dlrm": 3}
    assert sum(r["share"] for r in audit.releases.values()) == pytest.approx(1.0)


def _known_event(**changes) -> DPEvent:
    """Noise 1.0, sample rate 0.01, 10,000 steps, delta 1e-5: PLD epsilon 6.19, RDP 6.71."""
    values = dict(run_id="known", round=1, model="dlrm", noise_multiplier=1.0, sample_rate=0.01, steps=10_000,
                  max_grad_norm=1.0, privacy_unit="user", delta=1e-5, epsilon=6.198, accountant="opacus-prv 1.6.0",
                  population=50_000, timestamp=0.0, partner="p", max_epsilon=10.0)
    return DPEvent(**{**values, **changes})


def test_known_setting_recomputed_by_both_accountants(tmp_path):
    ledger = PrivacyLedger.at_site(tmp_path)
    ledger.append(_known_event(max_epsilon=10.0))
    check = audit_ledger(ledger.path).entries[0]
    assert check.rdp == pytest.approx(6.71, abs=0.01)
    assert check.pld == pytest.approx(6.19, abs=0.01)
    assert check.ok


def _analytic_gaussian_epsilon(sigma: float, delta: float) -> float:
    """Exact epsilon of one Gaussian mechanism (Balle and Wang 2018), sensitivity 1, noise std sigma."""
    def delta_of(eps):
        return norm.cdf(0.5 / sigma - eps * sigma) - math.exp(eps) * norm.cdf(-0.5 / sigma - eps * sigma)
    return brentq(lambda eps: delta_of(eps) - delta, 0.0, 50.0)


def test_a_gaussian_release_is_recomputed_without_subsampling(tmp_path):
    """One noised evaluation, sigma 20 at delta 1e-5: Opacus PRV in the ledger, dp-accounting and the exact formula agree."""
    recorded = epsilon_of([(20.0, 1.0, 1)], delta=1e-5, accountant="prv")
    ledger = PrivacyLedger.at_site(tmp_path)
    ledger.append(_known_event(model="evaluation", mechanism="gaussian", noise_multiplier=20.0, sample_rate=1.0,
                               steps=1, epsilon=recorded))
    audit = audit_ledger(ledger.path)
    assert audit.ok, audit.all_problems()
    assert audit.entries[0].pld == pytest.approx(_analytic_gaussian_epsilon(20.0, 1e-5), abs=1e-3)


def test_editing_a_number_is_detected_on_its_line(site):
    folder, _ = site
    ledger = folder / "ledger.jsonl"
    lines = ledger.read_text().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["noise_multiplier"] *= 1.5
    lines[1] = json.dumps(entry, sort_keys=True) + "\n"
    _rewrite(ledger, lines)
    assert any(p.startswith("line 2: content does not match its hash") for p in _problems(folder))


def test_deleting_a_line_is_detected(site):
    folder, _ = site
    lines = (folder / "ledger.jsonl").read_text().splitlines(keepends=True)
    _rewrite(folder / "ledger.jsonl", [lines[0], lines[2]] + lines[3:])
    assert any(p.startswith("line 2: prev_hash does not match") for p in _problems(folder))


def test_deleting_the_last_entry_at_the_site_is_named(site):
    folder, record = site
    lines = (folder / "ledger.jsonl").read_text().splitlines(keepends=True)
    _rewrite(folder / "ledger.jsonl", lines[:-1])
    problems = _problems(folder, record)
    assert any("the site's own signed head" in p and "entries 6..6 were deleted at the site" in p for p in problems)
    assert any("coordinator's record (round 3, train)" in p and "were deleted at the site" in p for p in problems)
    (folder / "head.json").unlink()  # the site also drops its own head: the coordinator's record still catches it
    assert any("coordinator's record" in p and "deleted" in p for p in _problems(folder, record))


def test_an_emptied_ledger_is_named(site):
    folder, record = site
    (folder / "ledger.jsonl").write_text("")
    problems = _problems(folder, record)
    assert any("the ledger has 0: entries 1..6 were deleted at the site" in p for p in problems)


def test_edited_steps_and_epsilon_with_a_rebuilt_chain_are_caught_by_signatures(site):
    folder, _ = site
    entries = [json.loads(line) for line in (folder / "ledger.jsonl").read_text().splitlines()]
    entries[-1]["steps"] = 1
    entries[-1]["epsilon"] = 0.5
    previous = entries[-2]["hash"]
    entries[-1]["prev_hash"] = previous
    entries[-1]["hash"] = entry_hash(entries[-1])  # a consistent chain, as an unkeyed tool would rebuild it
    (folder / "ledger.jsonl").write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    problems = _problems(folder)
    assert any(p.startswith("line 6: signature is not the site's") for p in problems)
    assert not any("content does not match its hash" in p for p in problems)


def test_an_edited_coordinator_record_is_named(site):
    folder, record = site
    record["signed_heads"][1]["entries"] = 1  # the coordinator claims the site had released less
    problems = _problems(folder, record)
    assert any("coordinator's record (round 2, train)" in p and "does not carry the site's signature" in p
               for p in problems)


def test_an_edited_spend_in_the_coordinators_copy_of_a_head_is_named(site):
    folder, record = site
    record["signed_heads"][2]["spend"][0][3] = 1  # the coordinator's copy claims fewer steps
    assert any("coordinator's record (round 3, train): its fields" in p and "the head was edited" in p
               for p in _problems(folder, record))


def test_the_reported_releases_by_kind_are_those_of_the_ledger(site):
    folder, record = site
    assert record["releases"]["dlrm"]["releases"] == 3 and record["releases"]["profile"]["rounds"] == [1, 3]
    assert not _problems(folder, record)
    record["releases"]["dlrm"]["steps"] -= 1  # a report that understates the DLRM's steps
    steps = record["releases"]["dlrm"]["steps"]
    assert any(p.endswith(f"dlrm steps: report {steps}, ledger {steps + 1}") and len(p) < 200
               for p in _problems(folder, record))  # one readable clause, not two dicts


def test_a_ledger_resigned_with_another_key_is_named(site, tmp_path):
    folder, record = site
    impostor = SiteKey.load_or_create(tmp_path / "impostor")
    entries = [json.loads(line) for line in (folder / "ledger.jsonl").read_text().splitlines()]
    previous = GENESIS_HASH
    for entry in entries:  # re-chain and re-sign every entry with the impostor's key
        entry["prev_hash"], entry["key_id"] = previous, impostor.key_id
        entry["hash"] = entry_hash(entry)
        entry["signature"] = impostor.sign(entry["hash"].encode("ascii"))
        previous = entry["hash"]
    (folder / "ledger.jsonl").write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    (folder / PUBLIC_KEY_FILE).write_text(impostor.public_pem)
    (folder / "head.json").unlink()
    problems = _problems(folder, record)
    assert any("is not the key the coordinator recorded" in p for p in problems)
    assert any("coordinator's record" in p and "does not carry the site's signature" in p for p in problems)


def test_entry_above_its_cap_fails_even_with_a_valid_chain(tmp_path):
    ledger = PrivacyLedger.at_site(tmp_path)
    ledger.append(_known_event(max_epsilon=5.0))
    problems = audit_ledger(ledger.path).all_problems()
    assert any("exceeds the cap 5" in p for p in problems)


def test_delta_not_below_one_over_population_fails(tmp_path):
    ledger = PrivacyLedger.at_site(tmp_path)
    ledger.append(_known_event(noise_multiplier=5.0, sample_rate=0.1, steps=10, delta=0.05, epsilon=0.0,
                               population=50, max_epsilon=5.0))
    assert any("not below 1/population" in p for p in audit_ledger(ledger.path).all_problems())


def test_cli_exit_status_and_json(site):
    folder, _ = site
    fedrec = [str(Path(sys.executable).parent / "fedrec"), "audit"]  # the installed console script
    good = subprocess.run(fedrec + [str(folder)], capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "overall: PASS" in good.stdout
    as_json = json.loads(subprocess.run(fedrec + [str(folder / "ledger.jsonl"), "--json"], capture_output=True,
                                        text=True).stdout)
    assert as_json["ok"] is True and len(as_json["ledgers"][0]["entries"]) == 6
    assert as_json["ledgers"][0]["releases"]["dlrm"]["count"] == 3
    assert "partner p0  delta 1e-05" in good.stdout
    piped = subprocess.run(f"'{fedrec[0]}' audit '{folder}' --json | head -1", shell=True, capture_output=True,
                           text=True)
    assert piped.stdout == "{\n" and "Broken pipe" not in piped.stderr  # a reader that stops early is no error
    missing = subprocess.run(fedrec + [str(folder / "no-such-run")], capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.strip().endswith("no-such-run: no such run directory, state directory or ledger file")
    ledger = folder / "ledger.jsonl"
    ledger.write_text(ledger.read_text().replace('"round": 2', '"round": 7'))
    bad = subprocess.run(fedrec + [str(ledger)], capture_output=True, text=True)
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


def test_a_doctored_report_or_summary_figure_is_named(site):
    folder, record = site
    last = json.loads((folder / "ledger.jsonl").read_text().splitlines()[-1])
    record.update(epsilon=last["epsilon"], max_epsilon=last["max_epsilon"], epsilon_by_round={"3": last["epsilon"]},
                  summary={"epsilon": last["epsilon"], "max_epsilon": last["max_epsilon"]})
    assert not _problems(folder, record)
    record["epsilon"] = 1.0  # the report claims the partner spent less
    assert any(p.startswith("privacy/report.json: partners.p0.epsilon = 1.0, but ledger entry 6") for p in
               _problems(folder, record))
    record["epsilon"], record["summary"]["epsilon"] = last["epsilon"], 1.0
    assert any(p.startswith("summary.json: privacy.epsilon.p0 = 1.0") for p in _problems(folder, record))
    record["summary"]["epsilon"], record["epsilon_by_round"]["3"] = last["epsilon"], 0.5
    assert any("epsilon_by_round.3 = 0.5 is no epsilon the ledger ever recorded" in p for p in _problems(folder, record))
