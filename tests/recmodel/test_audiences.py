"""Campaign audiences: the customers whose next item is the target are found more often than at random."""

import numpy as np
import pytest

from recmodel.audiences import already_acted, audience_scores, top_audience
from recmodel.data.federated import load_federated_data
from recmodel.model.bundle import site_profiles
from recmodel.model.model_file import load_model
from recmodel.site_recommender import SiteRecommender, UnknownId
from simulations.defaults import default_run_config
from tests.conftest import TINY
from tests.recmodel.conftest import CATEGORIES, ITEMS, USERS


def test_an_item_audience_holds_its_held_out_buyers_more_often_than_a_random_one(trained_run):
    run_dir, _, _ = trained_run
    config = default_run_config(**{**TINY, "synthetic_users": USERS, "synthetic_items": ITEMS,
                                   "synthetic_categories": CATEGORIES, "profiles": True})
    data = load_federated_data(config, num_partitions=1)  # the fixture's split: histories without held-out items
    model = load_model(run_dir).model
    profiles = site_profiles(model, data.catalogue, data.users, config)
    values, counts = np.unique(data.users.test_item, return_counts=True)
    hits = expected = 0.0
    for item in values[np.argsort(-counts, kind="stable")][:15]:
        excluded = already_acted(data.users, np.array([item]))
        scores = audience_scores(model.dlrm, data.catalogue, data.users, config.history_length, np.array([item]),
                                 profiles)
        audience = top_audience(scores, 24, excluded)
        relevant = (data.users.test_item == item) & ~excluded
        hits += relevant[audience].sum()
        expected += relevant.sum() * len(audience) / (~excluded).sum()
    assert hits >= 2 * expected, (hits, expected)  # measured: 42 found, 18.0 expected at random (2.33x)


def test_the_site_audience_is_ranked_leaves_out_past_buyers_and_names_segments(trained_run):
    run_dir, events_file, events = trained_run
    site = SiteRecommender.load(run_dir, events_file)
    item = str(events["item_id"].value_counts().index[0])
    answer = site.audience(item_id=item, size=30)
    scores = [c["score"] for c in answer["customers"]]
    assert len(scores) == 30 and scores == sorted(scores, reverse=True)
    had_it = set(events.loc[events["item_id"] == item, "user_id"])
    assert not had_it & {c["user_id"] for c in answer["customers"]}
    assert {"segment"} <= set(answer["customers"][0]) and answer["model_round"] is None
    with_past = site.audience(item_id=item, size=USERS, include_past=True)
    assert had_it <= {c["user_id"] for c in with_past["customers"]}
    category = str(events["category"].iloc[0])
    assert len(site.audience(category=category, size=10)["customers"]) == 10
    with pytest.raises(UnknownId):
        site.audience(category="no-such-category")
    with pytest.raises(Exception, match="exactly one"):
        site.audience(size=3)
