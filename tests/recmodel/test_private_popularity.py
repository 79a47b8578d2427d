"""A site's popularity answer under DP: planned into the run's budget, cap-checked, one signed ledger entry."""

import numpy as np
import pytest
import torch

from recmodel.data.federated import model_spec_for
from recmodel.model.bundle import Recommender
from recmodel.privacy.budget import BudgetExhausted
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.private_popularity import answer_popularity
from recmodel.training.private_round import run_private_round


def test_the_answer_is_one_ledgered_release_and_the_run_still_spends_exactly_the_target(tiny_data, tiny_config,
                                                                                       tmp_path):
    config = tiny_config.replace(popularity_prior=True, popularity_noise_multiplier=4.0, num_server_rounds=2)
    users = tiny_data.site_users(0)
    answer = answer_popularity(tiny_data.catalogue, users, config, state_dir=tmp_path, partner="p0", run_id="r",
                               max_epsilon=config.max_epsilon, evaluations=0)
    assert answer.counts.shape == (tiny_data.catalogue.item_buckets,) and answer.noise_std == 4.0
    [entry] = PrivacyLedger.at_site(tmp_path).entries()
    assert (entry["model"], entry["mechanism"], entry["noise_multiplier"], entry["sample_rate"], entry["steps"],
            entry["max_grad_norm"]) == ("popularity", "gaussian", 4.0, 1.0, 1, 1.0)
    assert answer.epsilon == pytest.approx(entry["epsilon"]) and answer.signed_head["entries"] == 1
    model = Recommender(model_spec_for(config, tiny_data))
    for server_round in (1, 2):
        torch.manual_seed(server_round)
        outcome = run_private_round(model, tiny_data.catalogue, users, config, state_dir=tmp_path, partner="p0",
                                    run_id="r", server_round=server_round, max_epsilon=config.max_epsilon)
    assert outcome.epsilon == pytest.approx(config.target_epsilon, abs=0.02)  # the prior was planned in


def test_without_dp_the_exact_counts_go_out_and_nothing_is_ledgered(tiny_data, tiny_config, tmp_path):
    config = tiny_config.replace(popularity_prior=True, dp=False)
    answer = answer_popularity(tiny_data.catalogue, tiny_data.site_users(0), config, state_dir=tmp_path,
                               partner="p0", run_id="r", max_epsilon=config.max_epsilon, evaluations=0)
    assert answer.noise_std == 0.0 and answer.signed_head is None
    assert np.isclose(answer.counts.sum(), answer.counts[answer.counts > 0].sum())
    assert not PrivacyLedger.at_site(tmp_path).entries()


def test_a_site_near_its_cap_refuses_before_releasing(tiny_data, tiny_config, tmp_path):
    config = tiny_config.replace(popularity_prior=True, popularity_noise_multiplier=1.0)
    with pytest.raises(BudgetExhausted):
        answer_popularity(tiny_data.catalogue, tiny_data.site_users(0), config, state_dir=tmp_path, partner="p0",
                          run_id="r", max_epsilon=1.0, evaluations=0)
    assert not PrivacyLedger.at_site(tmp_path).entries()
