"""Marketing figures from ranks and top-K lists, by hand on small cases."""

import math

import numpy as np
import pytest

from recmodel.config import ConfigError
from recmodel.metrics.marketing import item_information, marketing_metrics, per_user_marketing, top_k_items
from simulations.defaults import default_run_config


def test_precision_recall_map_coverage_and_novelty_by_hand():
    ranks = np.array([0, 3, 9])  # hits at K=5: the first two users
    top = np.array([[0, 1, 2, 3, 4], [0, 1, 2, 3, 5], [1, 2, 3, 4, 5]])
    popularity = np.array([7, 1, 1, 1, 1, 1, 0, 0])  # 12 interactions over 8 items
    result = marketing_metrics(ranks, top, popularity, ks=(1, 5))
    assert result["recall@5"] == pytest.approx(2 / 3) and result["precision@5"] == pytest.approx(2 / 15)
    assert result["map@5"] == pytest.approx((1 + 1 / 4) / 3) and result["map@1"] == pytest.approx(1 / 3)
    assert result["coverage@5"] == pytest.approx(6 / 8) and result["coverage@1"] == pytest.approx(2 / 8)
    share = (popularity + 1) / (12 + 8)
    assert result["novelty@1"] == pytest.approx(np.mean(-np.log2(share[[0, 0, 1]])))


def test_top_k_skips_excluded_items_and_pads_short_rows():
    scores = np.array([[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]])
    excluded = np.array([[True, False, False, False], [True, True, True, False]])
    top = top_k_items(scores, excluded, 3)
    assert top.tolist() == [[1, 2, 3], [3, -1, -1]]
    assert math.isnan(marketing_metrics(np.zeros(0), np.zeros((0, 3), dtype=int), np.ones(4), ks=(3,))["map@3"])


def test_metrics_k_is_checked():
    assert default_run_config().metric_ks() == (5, 10, 20)
    assert default_run_config(metrics_k="").metric_ks() == ()
    with pytest.raises(ConfigError, match="metrics-k"):
        default_run_config(metrics_k="5,ten")
    with pytest.raises(ConfigError, match="from 1 to 1000"):
        default_run_config(metrics_k="0,5")


def test_per_user_columns_average_to_the_figures():
    ranks = np.array([0, 3, 9])
    top = np.array([[0, 1, 2, 3, 4], [0, 1, 2, 3, 5], [1, 2, -1, -1, -1]])  # the last user's list is short
    popularity = np.array([7, 1, 1, 1, 1, 1, 0, 0])
    columns = per_user_marketing(ranks, top, popularity, ks=(5,))
    assert columns["recall@5"].tolist() == [1, 1, 0] and columns["map@5"].tolist() == [1, 0.25, 0]
    information = item_information(popularity)
    assert columns["novelty@5"][2] == pytest.approx(information[[1, 2]].mean())  # padding is not an item
    assert marketing_metrics(ranks, top, popularity, ks=(5,))["novelty@5"] == pytest.approx(columns["novelty@5"].mean())


def test_activity_segments_follow_the_public_edges():
    from recmodel.metrics.activity_segments import activity_segments

    class Counted:  # only train_offsets is read
        train_offsets = np.cumsum([0, 0, 1, 4, 5, 19, 20, 300])

    assert activity_segments(Counted()).tolist() == [0, 0, 0, 1, 1, 2, 2]
