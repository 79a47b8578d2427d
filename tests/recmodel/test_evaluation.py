"""Central evaluation ranks the test and the validation items from one scoring pass."""

import numpy as np
import torch

from recmodel.evaluation import evaluate_bundle, evaluate_ranking, model_scorer, popularity_scorer, target_ranks_by
from recmodel.model.bundle import Recommender


def test_bundle_evaluation_reports_validation_ndcg_as_a_separate_ranking_of_the_validation_items(
        tiny_config, tiny_data, tiny_spec):
    torch.manual_seed(0)
    model = Recommender(tiny_spec)
    result = evaluate_bundle(model, tiny_data.catalogue, tiny_data.users, tiny_config)
    scorer = model_scorer(model.dlrm, tiny_data.catalogue, tiny_data.users, tiny_config.history_length)
    valid = evaluate_ranking(scorer, tiny_data.catalogue, tiny_data.users, k=10, target="valid")
    test = evaluate_ranking(scorer, tiny_data.catalogue, tiny_data.users, k=10, target="test")
    assert result["valid-ndcg@10"] == valid["ndcg@10"] and result["ndcg@10"] == test["ndcg@10"]


def test_one_pass_ranks_each_target_against_its_own_item(tiny_data):
    users = tiny_data.users
    scores = np.zeros(len(tiny_data.catalogue))
    scores[users.valid_item[0]] = 1.0  # user 0's validation item on top for everyone
    ranks = target_ranks_by(popularity_scorer(scores), tiny_data.catalogue, users, targets=("test", "valid"))
    assert ranks["valid"][0] == 0
    assert users.valid_item[0] == users.test_item[0] or ranks["test"][0] > 0


def test_the_marketing_figures_come_from_the_same_ranks_and_lists(tiny_config, tiny_data, tiny_spec):
    torch.manual_seed(0)
    result = evaluate_bundle(Recommender(tiny_spec), tiny_data.catalogue, tiny_data.users, tiny_config)
    assert result["recall@10"] == result["hr@10"] and result["precision@10"] == result["hr@10"] / 10
    assert 0 < result["coverage@5"] <= result["coverage@10"] <= result["coverage@20"] <= 1
    assert result["map@5"] <= result["map@10"] <= result["map@20"] and result["novelty@10"] > 0
    popularity = evaluate_ranking(popularity_scorer(tiny_data.catalogue.popularity.astype(float)), tiny_data.catalogue,
                                  tiny_data.users, k=10, ks=(10,))
    assert popularity["coverage@10"] < result["coverage@10"]  # the same few items for everyone
