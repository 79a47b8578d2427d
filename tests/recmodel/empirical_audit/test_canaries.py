"""Canaries: one fresh item each, the last training event; dealt over partners; every fresh item declared."""

import numpy as np
import pandas as pd
import pytest

from recmodel.data.federated import load_federated_data
from recmodel.data.synthetic import SyntheticSpec, generate_events
from recmodel.empirical_audit.canaries import declared_catalogue, make_canaries
from simulations.defaults import default_run_config


@pytest.fixture(scope="module")
def base():
    return generate_events(SyntheticSpec(users=200, items=60, categories=5, partners=2, seed=0)) \
        .drop(columns="latent_favourites")


def test_each_canary_has_its_own_fresh_item_as_its_first_event(base):
    canaries = make_canaries(base, 40, seed=1)
    assert len(set(canaries.fresh_items)) == 40 and not set(canaries.fresh_items) & set(base["item_id"])
    assert sorted(set(canaries.partners)) == ["partner-0", "partner-1"]
    assert 10 < canaries.included.sum() < 30  # coins with probability 1/2
    for user, fresh in zip(canaries.user_ids, canaries.fresh_items):
        items = canaries.events[canaries.events["user_id"] == user].sort_values("timestamp")["item_id"].tolist()
        assert items[0] == fresh and items.count(fresh) == 1 and len(items) == 6  # in every training history
    assert set(canaries.included_events()["user_id"]) == set(canaries.user_ids[canaries.included])
    again = make_canaries(base, 40, seed=1)
    assert (again.included == canaries.included).all() and again.events.equals(canaries.events)


def test_the_declared_catalogue_holds_excluded_canaries_items_and_the_run_data_keeps_them(base, tmp_path):
    canaries = make_canaries(base, 20, seed=2)
    events, catalogue = tmp_path / "events.parquet", tmp_path / "catalogue.parquet"
    pd.concat([base, canaries.included_events()]).to_parquet(events, index=False)
    declared_catalogue(base, canaries).to_parquet(catalogue, index=False)
    config = default_run_config(dataset=str(events), catalogue=str(catalogue))
    data = load_federated_data(config, num_partitions=2)
    assert set(canaries.fresh_items) <= set(data.catalogue.item_ids)  # in the item space, included or not
    users = set(data.users.user_ids)
    assert {u for u, c in zip(canaries.user_ids, canaries.included) if c} <= users
    assert not {u for u, c in zip(canaries.user_ids, canaries.included) if not c} & users


def test_too_few_canaries_or_events_and_a_log_without_partners_are_refused(base):
    with pytest.raises(ValueError, match="at least 2 canaries"):
        make_canaries(base, 1, seed=0)
    with pytest.raises(ValueError, match="at least 4 events"):
        make_canaries(base, 5, seed=0, history=3)
    with pytest.raises(ValueError, match="partner_id"):
        make_canaries(base.drop(columns="partner_id"), 5, seed=0)
    assert np.isfinite(base["timestamp"]).all()
