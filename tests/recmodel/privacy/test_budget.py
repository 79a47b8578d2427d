"""No setting sent by the coordinator can push a partner past its own cap."""

import pytest
import torch

from recmodel.model.bundle import Recommender
from recmodel.privacy.budget import BudgetExhausted
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.training.private_round import run_private_round

CAP = 5.0


def _round(tiny_data, tiny_spec, config, state_dir, server_round, run_id="run"):
    torch.manual_seed(server_round)
    return run_private_round(Recommender(tiny_spec), tiny_data.catalogue, tiny_data.site_users(0), config,
                             state_dir=state_dir, partner="p0", run_id=run_id, server_round=server_round,
                             max_epsilon=CAP)


def _assert_never_above_cap(state_dir):
    entries = PrivacyLedger(state_dir / "ledger.jsonl").entries()
    assert all(e["epsilon"] <= CAP and e["max_epsilon"] == CAP for e in entries)
    return entries


def test_more_rounds_than_planned_stop_at_the_cap(tiny_data, tiny_spec, tiny_config, tmp_path):
    config = tiny_config.replace(num_server_rounds=2, target_epsilon=4.0)
    _round(tiny_data, tiny_spec, config, tmp_path, 1)
    _round(tiny_data, tiny_spec, config, tmp_path, 2)
    with pytest.raises(BudgetExhausted, match=r"partner 'p0' .* above its cap max-epsilon=5"):
        for extra in range(3, 10):  # the server keeps asking
            _round(tiny_data, tiny_spec, config, tmp_path, extra)
    entries = _assert_never_above_cap(tmp_path)
    assert 2 <= len(entries) < 9


def test_more_local_epochs_cannot_pass_the_cap(tiny_data, tiny_spec, tiny_config, tmp_path):
    config = tiny_config.replace(local_epochs=30, target_epsilon=20.0)
    with pytest.raises(BudgetExhausted):
        _round(tiny_data, tiny_spec, config, tmp_path, 1)
    assert _assert_never_above_cap(tmp_path) == []


def test_a_smaller_noise_multiplier_cannot_pass_the_cap(tiny_data, tiny_spec, tiny_config, tmp_path):
    """A larger target-epsilon is how the coordinator would lower the noise multiplier."""
    with pytest.raises(BudgetExhausted) as refusal:
        _round(tiny_data, tiny_spec, tiny_config.replace(target_epsilon=50.0), tmp_path, 1)
    assert refusal.value.projected > CAP and refusal.value.spent == 0.0
    assert not (tmp_path / "ledger.jsonl").exists()


def test_a_larger_sample_rate_cannot_pass_the_cap(tiny_data, tiny_spec, tiny_config, tmp_path):
    """A batch as large as the site makes the sample rate 1 (no amplification by subsampling)."""
    config = tiny_config.replace(batch_size=10_000, target_epsilon=50.0)
    with pytest.raises(BudgetExhausted):
        _round(tiny_data, tiny_spec, config, tmp_path, 1)
    assert not (tmp_path / "ledger.jsonl").exists()


def test_a_new_run_at_a_spent_site_is_refused(tiny_data, tiny_spec, tiny_config, tmp_path):
    """The cap is lifetime: earlier runs in the same state directory count."""
    config = tiny_config.replace(num_server_rounds=1, target_epsilon=4.0)
    _round(tiny_data, tiny_spec, config, tmp_path, 1, run_id="first")
    with pytest.raises(BudgetExhausted):
        _round(tiny_data, tiny_spec, config, tmp_path, 1, run_id="second")
    _assert_never_above_cap(tmp_path)
