import numpy as np
import pandas as pd
import pytest

from recmodel.data.interactions import split_leave_last_out, with_category_names
from recmodel.data.schema import DataError
from recmodel.data.synthetic import SyntheticSpec, generate_events


def _events(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp"])


def test_last_interaction_is_test_and_second_last_is_validation():
    events = _events([
        ("a", "i1", "view", 1), ("a", "i2", "view", 2), ("a", "i2", "purchase", 3),
        ("a", "i3", "click", 4), ("a", "i4", "view", 5),
        ("b", "i4", "view", 1), ("b", "i1", "view", 2), ("b", "i2", "view", 3),
    ])
    split = split_leave_last_out(events, item_buckets=16, category_buckets=4, attribute_buckets=4)
    ids = split.catalogue.item_ids
    users = split.users
    a = list(users.user_ids).index("a")
    assert ids[users.test_item[a]] == "i4"
    assert ids[users.valid_item[a]] == "i3"
    assert list(ids[users.train_items_of(a)]) == ["i1", "i2"]
    # i2's deepest event was a purchase (level 3)
    assert users.train_levels[users.train_offsets[a] + 1] == 3


def test_users_below_min_interactions_are_dropped_and_counted():
    events = _events([("a", "i1", "view", 1), ("a", "i2", "view", 2), ("a", "i3", "view", 3),
                      ("b", "i1", "view", 1), ("b", "i2", "view", 2)])
    split = split_leave_last_out(events, item_buckets=16, category_buckets=4, attribute_buckets=4)
    assert list(split.users.user_ids) == ["a"]
    assert split.dropped_users == 1


def test_no_usable_user_is_a_clear_error():
    events = _events([("a", "i1", "view", 1)])
    with pytest.raises(DataError, match="no user has at least 3 distinct interactions"):
        split_leave_last_out(events, item_buckets=16, category_buckets=4, attribute_buckets=4, source="x.csv")


def test_subset_keeps_each_users_items(tiny_data):
    users = tiny_data.users
    rows = np.array([5, 2])
    subset = users.subset(rows)
    for new, old in enumerate(rows):
        assert (subset.train_items_of(new) == users.train_items_of(old)).all()
        assert subset.test_item[new] == users.test_item[old]


def test_few_categories_get_a_row_each_in_a_shared_catalogue_and_stay_hashed_otherwise():
    events = generate_events(SyntheticSpec(users=60, items=40, categories=20, partners=1, seed=0))
    split = split_leave_last_out(events, item_buckets=0, category_buckets=64, attribute_buckets=8,
                                 distinct_categories=True)
    catalogue = split.catalogue
    names = sorted(set(catalogue.categories))
    assert catalogue.category_names == tuple(names)
    pairs = set(zip(catalogue.categories, catalogue.category_rows))
    assert len(pairs) == len(names) == len({row for _, row in pairs})  # one row per category, none shared
    assert all(row == 1 + names.index(name) for name, row in pairs)
    hashed = split_leave_last_out(events, item_buckets=0, category_buckets=64, attribute_buckets=8).catalogue
    assert hashed.category_names is None
    too_many = split_leave_last_out(events, item_buckets=0, category_buckets=8, attribute_buckets=8,
                                    distinct_categories=True).catalogue
    assert too_many.category_names is None  # 20 names, 7 rows: hashed
    remapped = with_category_names(hashed, names[:-1])
    assert (remapped.category_rows[hashed.categories == names[-1]] == 0).all()  # a name the model lacks: padding
