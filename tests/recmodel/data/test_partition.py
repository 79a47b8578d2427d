import numpy as np
import pytest

from recmodel.data.federated import load_federated_data
from recmodel.data.partition import partition_users
from recmodel.data.schema import DataError


def _assert_disjoint_cover(partitions, total):
    joined = np.concatenate(partitions)
    assert len(joined) == len(np.unique(joined)) == total


def test_partition_by_partner_is_disjoint_and_keeps_partners_whole(tiny_data):
    users = tiny_data.users
    parts = partition_users(users, 2, seed=0)
    _assert_disjoint_cover(parts, len(users))
    for rows in parts:
        assert len(np.unique(users.partner_ids[rows])) == 1


def test_partition_by_user_without_partner_ids(tiny_data):
    users = tiny_data.users
    anonymous = users.__class__(**{**users.__dict__, "partner_ids": np.full(len(users), "")})
    parts = partition_users(anonymous, 3, seed=1)
    _assert_disjoint_cover(parts, len(users))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_more_partners_than_users_is_refused(tiny_config):
    with pytest.raises(DataError, match=r"more partners \(500\) than users"):
        load_federated_data(tiny_config, num_partitions=500)


def test_more_sites_than_partner_ids_is_refused(tiny_data):
    with pytest.raises(DataError, match="2 partner_id values .* but 3 sites were requested"):
        partition_users(tiny_data.users, 3, seed=0)


def test_sites_that_cannot_train_are_named_with_what_to_change(tiny_config):
    from recmodel.data.federated import check_sites_can_train

    data = load_federated_data(tiny_config, num_partitions=2)
    check_sites_can_train(tiny_config, data)  # 60 users per site, batch 16: fine
    check_sites_can_train(tiny_config.replace(batch_size=100), data)  # the batch shrinks to 15 at the sites
    with pytest.raises(DataError) as error:
        check_sites_can_train(tiny_config.replace(target_delta=0.05), data)
    message = str(error.value)
    assert "partner 'partner-0' has 60 users: target-delta=0.05 is not below 1/users" in message
    assert "partner 'partner-1'" in message


def test_dirichlet_partition_is_disjoint_and_skewed(tiny_data):
    import pandas as pd

    from recmodel.data.partition import assign_partners
    from recmodel.data.synthetic import SyntheticSpec, generate_events

    events = generate_events(SyntheticSpec(users=400, items=80, categories=8, partners=1, seed=3))
    skewed = assign_partners(events, by="dirichlet", partners=4, alpha=0.1, seed=0)
    even = assign_partners(events, by="dirichlet", partners=4, alpha=100.0, seed=0)
    assert set(skewed) == set(events["user_id"])  # every user exactly once
    def skew(assignment):
        site = events["user_id"].map(assignment)
        mix = pd.crosstab(site, events["category"], normalize="index").to_numpy()
        return float(np.abs(mix - mix.mean(0)).sum())
    assert skew(skewed) > 2 * skew(even)
