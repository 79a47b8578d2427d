import math

import pytest
import torch
from opacus.accountants import PRVAccountant, RDPAccountant

from recmodel.model.bundle import Recommender
from recmodel.data.federated import model_spec_for
from recmodel.data.profile_examples import held_out_users
from recmodel.privacy.accounting import calibrate_noise_multiplier, epsilon_of
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.training.private_round import run_private_round


def test_known_setting_matches_published_values():
    history = [(1.0, 0.01, 10_000)]
    assert epsilon_of(history, delta=1e-5, accountant="rdp") == pytest.approx(6.71, abs=0.02)
    assert epsilon_of(history, delta=1e-5, accountant="prv") == pytest.approx(6.19, abs=0.02)


def test_calibrated_noise_reaches_target_epsilon_at_the_planned_step():
    sigma = calibrate_noise_multiplier(target_epsilon=3.0, delta=1e-5, sample_rate=0.05, steps=200, accountant="prv")
    spent = epsilon_of([(sigma, 0.05, 200)], delta=1e-5, accountant="prv")
    assert 2.98 <= spent <= 3.0


def test_epsilon_grows_every_round_and_matches_a_fresh_accountant(tiny_data, tiny_config, tmp_path):
    config = tiny_config.replace(num_server_rounds=3, profiles=True)
    model = Recommender(model_spec_for(config, tiny_data))
    users = tiny_data.site_users(1)
    outcomes = []
    for server_round in (1, 2, 3):
        torch.manual_seed(server_round)
        outcomes.append(run_private_round(model, tiny_data.catalogue, users, config, state_dir=tmp_path,
                                          partner="p1", run_id="test", server_round=server_round,
                                          max_epsilon=config.max_epsilon))
    epsilons = [o.epsilon for o in outcomes]
    assert epsilons[0] < epsilons[1] < epsilons[2]
    assert epsilons[2] == pytest.approx(config.target_epsilon, abs=0.02)  # planned rounds spend the target

    entries = PrivacyLedger(tmp_path / "ledger.jsonl").entries()
    # both models trained on the same users compose into one ledger: profile then DLRM, every round
    assert [(e["round"], e["model"]) for e in entries] == [(r, m) for r in (1, 2, 3) for m in ("profile", "dlrm")]
    for i, entry in enumerate(entries):
        fresh = PRVAccountant()
        fresh.history = [(e["noise_multiplier"], e["sample_rate"], e["steps"]) for e in entries[: i + 1]]
        assert entry["epsilon"] == pytest.approx(fresh.get_epsilon(delta=entry["delta"]), rel=1e-9)
    assert {e["population"] for e in entries if e["model"] == "dlrm"} == {len(users)}
    assert {e["population"] for e in entries if e["model"] == "profile"} == {int((~held_out_users(users)).sum())}


def test_a_second_run_at_the_same_site_keeps_counting(tiny_data, tiny_config, tiny_spec, tmp_path):
    """The ledger composes across runs: a new run never restarts from zero."""
    users = tiny_data.site_users(0)
    first = run_private_round(Recommender(tiny_spec), tiny_data.catalogue, users, tiny_config, state_dir=tmp_path,
                              partner="p0", run_id="run-a", server_round=1, max_epsilon=100.0)
    second = run_private_round(Recommender(tiny_spec), tiny_data.catalogue, users, tiny_config, state_dir=tmp_path,
                               partner="p0", run_id="run-b", server_round=1, max_epsilon=100.0)
    assert second.epsilon > first.epsilon
    rdp = RDPAccountant()
    rdp.history = PrivacyLedger(tmp_path / "ledger.jsonl").history()
    assert rdp.get_epsilon(delta=tiny_config.target_delta) >= second.epsilon  # RDP is looser, never tighter


def test_no_dp_round_writes_no_ledger(tiny_data, tiny_config, tiny_spec, tmp_path):
    outcome = run_private_round(Recommender(tiny_spec), tiny_data.catalogue, tiny_data.site_users(0),
                                tiny_config.replace(dp=False), state_dir=tmp_path, partner="p0",
                                run_id="r", server_round=1, max_epsilon=1.0)
    assert math.isinf(outcome.epsilon)
    assert not (tmp_path / "ledger.jsonl").exists()
