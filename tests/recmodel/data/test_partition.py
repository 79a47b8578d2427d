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
