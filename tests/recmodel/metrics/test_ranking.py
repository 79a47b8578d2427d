import math

import numpy as np

from recmodel.metrics.ranking import hit_rate_at_k, ndcg_at_k, target_ranks


def test_ranks_ndcg_and_hr_against_hand_computed_values():
    scores = np.array([
        [0.9, 0.1, 0.5, 0.3, 0.7],  # target 2 (0.5): 0.9 and 0.7 above -> rank 2
        [0.9, 0.8, 0.1, 0.2, 0.3],  # target 4 (0.3): 0.9 excluded, 0.8 above -> rank 1
        [0.1, 0.2, 0.3, 0.4, 0.5],  # target 0: all 4 above -> rank 4
    ])
    excluded = np.zeros_like(scores, dtype=bool)
    excluded[1, 0] = True
    ranks = target_ranks(scores, np.array([2, 4, 0]), excluded)
    assert list(ranks) == [2, 1, 4]
    assert math.isclose(ndcg_at_k(ranks, 3), (1 / math.log2(4) + 1 / math.log2(3) + 0) / 3)
    assert math.isclose(hit_rate_at_k(ranks, 3), 2 / 3)
    assert math.isclose(ndcg_at_k(ranks, 10), (1 / math.log2(4) + 1 / math.log2(3) + 1 / math.log2(6)) / 3)


def test_ties_rank_pessimistically():
    ranks = target_ranks(np.array([[1.0, 1.0, 1.0]]), np.array([1]))
    assert list(ranks) == [2]


def test_perfect_ranking_scores_one():
    ranks = target_ranks(np.array([[0.1, 0.9]]), np.array([1]))
    assert ndcg_at_k(ranks, 10) == 1.0 and hit_rate_at_k(ranks, 1) == 1.0


def test_nan_scores_rank_last_never_first():
    scores = np.array([[np.nan, np.nan, np.nan], [0.1, np.nan, 0.3]])
    ranks = target_ranks(scores, np.array([0, 0]))
    np.testing.assert_array_equal(ranks, [2, 1])  # all NaN: the target ties last; the NaN item sinks below it
    assert ndcg_at_k(np.array([2]), 1) == 0.0
