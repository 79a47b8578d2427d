"""Segment summaries say in words what sets each segment apart."""

import numpy as np
import pandas as pd

from recmodel.segment_descriptions import distinctive_categories, summarise_segments


def test_a_segment_is_described_by_its_over_represented_category_and_its_activity():
    segments = np.array([0, 0, 1, 1, 1, 1])
    value = pd.DataFrame({"days_since_last_event": [1.0, 3.0, 40, 50, 60, 70], "events": [30, 20, 2, 3, 2, 3],
                          "purchases": [5, 4, 0, 0, 1, 0], "spend": [100.0, 80.0, 0, 0, 9.5, 0]})
    shares = pd.DataFrame({"Jazz": [0.9, 0.8, 0.0, 0.1, 0.0, 0.0], "Rock": [0.1, 0.2, 1.0, 0.9, 1.0, 1.0]})
    summary = summarise_segments(segments, 3, value, shares)
    assert list(summary["users"]) == [2, 4, 0]
    assert summary.loc[0, "top_categories"].startswith("Jazz (85% of events, all users 30%)")
    assert summary.loc[0, "median_days_since_last_event"] == 2.0 and summary.loc[0, "median_spend"] == 90.0
    assert summary.loc[0, "description"] == (
        "2 users (33%); over-represented in Jazz (85% vs 30%); last active 2 days before the latest event "
        "(all users 45); 25 events each (all users 3); spend 90.00 each (all users 4.75; medians)")
    assert summary.loc[1, "top_categories"].startswith("Rock")
    assert summary.loc[2, "description"] == "empty segment"


def test_a_category_barely_above_everyone_is_not_called_over_represented():
    segments = np.array([0, 0, 1, 1])
    value = pd.DataFrame({"days_since_last_event": [1.0, 2, 3, 4], "events": [5, 6, 7, 8], "purchases": [1, 1, 1, 1],
                          "spend": [1.0, 1, 1, 1]})
    shares = pd.DataFrame({"Crime": [0.072, 0.072, 0.068, 0.068], "Drama": [0.928, 0.928, 0.932, 0.932]})
    summary = summarise_segments(segments, 2, value, shares)
    assert "over-represented" not in summary["description"].iloc[0]
    assert "no category stands out" in summary["description"].iloc[0]


def test_a_customer_is_described_by_the_categories_their_own_events_over_represent():
    shares = pd.DataFrame({"Jazz": [0.9, 0.05, 0.05, 0.0], "Rock": [0.1, 0.9, 0.85, 0.9],
                           "Pop": [0.0, 0.05, 0.1, 0.1]})  # all users: Jazz 0.25, Rock 0.6875, Pop 0.0625
    found = distinctive_categories(shares, limit=2)
    assert [[name for name, _, _ in user] for user in found] == [["Jazz"], ["Rock"], ["Rock", "Pop"], ["Rock", "Pop"]]
    assert found[0][0] == ("Jazz", 0.9, 0.25)  # 0.9 of the customer's events against 0.25 of everyone's
