"""Every category of an item: read from ``categories``, counted in profiles, audiences and filters."""

import numpy as np
import pandas as pd
import pytest

from recmodel.customer_value import category_shares
from recmodel.data.interactions import split_leave_last_out, with_model_categories
from recmodel.data.item_categories import items_in_categories, spread_over_categories
from recmodel.data.profile_features import AFFINITY_SCALE, next_category_targets, summarise


def _events(with_categories: bool = True) -> pd.DataFrame:
    """Two users, four items; item b is a comedy listed after its first genre, Action."""
    rows = [("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 3), ("u1", "d", 4), ("u1", "a2", 5),
            ("u2", "c", 1), ("u2", "d", 2), ("u2", "b", 3), ("u2", "a", 4)]
    genres = {"a": "Action", "a2": "Action", "b": "Action|Comedy", "c": "Comedy|Drama", "d": "Drama"}
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    events["event"] = "purchase"
    events["category"] = events["item_id"].map(lambda item: genres[item].split("|")[0])
    if with_categories:
        events["categories"] = events["item_id"].map(genres)
    return events


def _split(events, **kwargs):
    return split_leave_last_out(events, item_buckets=0, category_buckets=kwargs.pop("buckets", 8),
                                attribute_buckets=4, min_interactions=3, **kwargs)


def test_every_category_gets_a_row_and_the_first_stays_the_model_feature():
    catalogue = _split(_events(), distinct_categories=True).catalogue
    assert catalogue.category_names == ("Action", "Comedy", "Drama")  # Drama is only ever second for c, yet named
    position = {item: i for i, item in enumerate(catalogue.item_ids)}
    offsets, members = catalogue.category_membership()
    b = position["b"]
    assert members[offsets[b]:offsets[b + 1]].tolist() == [1, 2] and catalogue.category_rows[b] == 1
    assert items_in_categories(catalogue.category_lists, ["Comedy"]).tolist() == [
        item in ("b", "c") for item in catalogue.item_ids]
    hashed = with_model_categories(catalogue, None, 8)  # a model without recorded names: hashed, still every one
    assert len(hashed.category_membership()[1]) == len(members)


def test_without_the_column_an_item_has_its_one_category():
    catalogue = _split(_events(with_categories=False), distinct_categories=True).catalogue
    assert catalogue.category_offsets is None and catalogue.category_names == ("Action", "Comedy", "Drama")
    offsets, members = catalogue.category_membership()
    assert np.array_equal(members, catalogue.category_rows) and len(offsets) == len(catalogue) + 1


def test_an_event_counts_equally_for_each_of_its_categories():
    event, rows, weight = spread_over_categories(np.array([0, 1, 3]), np.array([5, 6, 7]), np.array([1, 0]))
    assert event.tolist() == [0, 0, 1] and rows.tolist() == [6, 7, 5] and weight.tolist() == [0.5, 0.5, 1.0]
    data = _split(_events(), distinct_categories=True)
    features = summarise(data.catalogue, data.users, category_buckets=8, attribute_buckets=4, reference_time=10.0)
    u1 = list(data.users.user_ids).index("u1")  # trains on a, b, c (d and a2 held out): Action 1.5, Comedy 1, Drama .5
    assert features.features[u1, 1:4] / AFFINITY_SCALE == pytest.approx([1.5 / 3, 1 / 3, 0.5 / 3])
    targets = next_category_targets(data.catalogue, data.users, target="test", category_buckets=8)
    u2 = list(data.users.user_ids).index("u2")  # u2's test item is a: all Action
    assert targets.shape == (2, 8) and targets[u2, 1] == 1.0 and targets.sum(1).tolist() == [1.0, 1.0]
    shares = category_shares(_events(), data.users.user_ids)
    assert shares.loc[u1, "Comedy"] == pytest.approx(1 / 5)  # of u1's 5 events, b and c count half each


def test_the_profile_model_trains_and_is_evaluated_on_every_category():
    import torch

    from recmodel.data.profile_examples import profile_loss, profile_training_examples
    from recmodel.data.synthetic import SyntheticSpec, generate_events
    from recmodel.model.profile import ProfileLoss, ProfileModel, ProfileSpec
    from recmodel.profile_evaluation import evaluate_profiles

    events = generate_events(SyntheticSpec(users=300, items=60, categories=6, partners=1, seed=1))
    second = events["item_id"].map(lambda item: f"cat{(int(item[1:]) * 7) % 6:02d}")
    events["categories"] = events["category"] + "|" + second  # every item gets a second category (or the same)
    data = _split(events, buckets=8, distinct_categories=True)
    assert data.catalogue.category_offsets is not None
    examples = profile_training_examples(data.catalogue, data.users, category_buckets=8, attribute_buckets=4,
                                         reference_time=2e9)
    features, behaviour, targets = examples.tensors
    assert targets.shape == (len(features), 8) and torch.allclose(targets.sum(1), torch.ones(len(features)))
    model = ProfileModel(ProfileSpec(features.shape[1], behaviour.shape[1], 8))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(30):
        optimiser.zero_grad()
        profile_loss(model, ProfileLoss(), examples.tensors).backward()
        optimiser.step()
    result = evaluate_profiles(model, data.catalogue, data.users, category_buckets=8, attribute_buckets=4,
                               reference_time=2e9)
    assert result["profile-users"] > 0 and 0 < result["prior-top5"] <= 1 and 0 < result["next-category-top5"] <= 1
