"""Buy again: repeat statistics, the repeat-aware order and the mixed list, by hand."""

import numpy as np

import pandas as pd

from recmodel.buy_again import (frequency_order, item_repeat_rates, mixed_list, purchase_histories, repeat_scores,
                                repeat_share, slot_pattern)


def test_purchase_histories_keep_repeats_in_time_order_and_skip_other_events():
    events = pd.DataFrame({"user_id": ["b", "a", "a", "a", "b", "a"], "item_id": ["x", "y", "x", "y", "x", "z"],
                           "event": ["purchase", "purchase", "purchase", "purchase", "purchase", "view"],
                           "timestamp": [5.0, 1.0, 2.0, 3.0, 4.0, 0.0]})
    histories = purchase_histories(events, np.array(["a", "b"]), np.array(["x", "y", "z"]))
    assert histories.of(0).tolist() == [1, 0, 1] and histories.of(1).tolist() == [0, 0]


def test_repeat_rates_and_the_sites_repeat_share():
    events = pd.DataFrame({"user_id": list("aaabbcdd"), "item_id": list("121002" "20"), "event": "purchase",
                           "timestamp": np.arange(8.0)})
    histories = purchase_histories(events, np.array(list("abcd")), np.array(list("012")))
    assert item_repeat_rates(histories, 3).tolist() == [2 / 4, 2 / 3, 1 / 5]  # (repeaters + 1) / (buyers + 2)
    assert repeat_share(histories, 3) == 2 / 3  # of the three customers with two purchases, two end on a repeat


def test_the_frequency_baseline_and_the_repeat_aware_order():
    assert frequency_order(np.array([5, 3, 5, 2, 3, 3])).tolist() == [3, 5, 2]  # counts, then the latest
    items, scores = repeat_scores(np.array([5, 3, 5]), logits=np.zeros(10), repeat_rates=np.full(10, 0.5))
    assert items.tolist() == [3, 5] and scores[1] > scores[0]  # bought twice beats once when the model is flat
    items, scores = repeat_scores(np.array([5, 3]), logits=np.where(np.arange(10) == 3, 5.0, 0.0),
                                  repeat_rates=np.full(10, 0.5))
    assert scores[0] > scores[1]  # the model breaks the tie


def test_slots_go_to_the_list_whose_next_rank_hits_more_and_the_mixed_list_follows_them():
    pattern = slot_pattern(np.array([9, 5, 2, 1]), np.array([6, 4, 3, 0]), 4)
    assert pattern == [True, False, True, False]  # 9 > 6: again; 5 < 6: new; 5 > 4: again; 2 < 4: new
    assert slot_pattern(np.zeros(3), np.zeros(3), 3) == [False, False, False]  # ties go to new items
    assert mixed_list(["a", "b"], ["x", "y"], [True, False, True, False]) == ["a", "x", "b", "y"]
    assert mixed_list(["a", "b"], ["a", "x", "y"], [True, False, True]) == ["a", "x", "b"]  # never twice
    assert mixed_list([], list("vwx"), [True, True]) == ["v", "w"]  # buy-again ran out: new items fill in
    assert mixed_list(["a", "b"], [], [False, False, False]) == ["a", "b"]
