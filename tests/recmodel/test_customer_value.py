"""Recency, frequency and spend per user come out in days, counts and the file's currency."""

import math

import numpy as np
import pandas as pd

from recmodel.customer_value import category_shares, customer_value

DAY = 86_400
USERS = np.array(["a", "b"], dtype=object)


def events_with(prices: bool) -> pd.DataFrame:
    rows = [  # user, item, event, day, category, price
        ("a", "i1", "view", 0, "Books", 12.5), ("a", "i1", "view", 1, "Books", 12.5),
        ("a", "i2", "purchase", 3, "Books", 20.0), ("a", "i3", "purchase", 5, "Games", 7.25),
        ("b", "i1", "purchase", 10, "Books", 12.5),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp", "category", "price"])
    frame["timestamp"] = frame["timestamp"] * DAY
    return frame if prices else frame.drop(columns="price")


def test_days_counts_and_spend_in_the_files_units():
    value = customer_value(events_with(prices=True), USERS)
    assert list(value["days_since_last_event"]) == [5.0, 0.0]
    assert list(value["events"]) == [4, 1] and list(value["purchases"]) == [2, 1]  # repeated views count
    assert math.isclose(value.loc[0, "spend"], 27.25) and math.isclose(value.loc[1, "spend"], 12.5)


def test_spend_is_unknown_without_a_price_column():
    assert customer_value(events_with(prices=False), USERS)["spend"].isna().all()


def test_category_shares_use_the_files_category_names():
    shares = category_shares(events_with(prices=True), USERS)
    assert list(shares.columns) == ["Books", "Games"]
    assert list(shares["Books"]) == [0.75, 1.0]
