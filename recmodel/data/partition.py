"""Assign users to partner sites (disjoint users per site)."""

from __future__ import annotations

import numpy as np

from recmodel.data.interactions import Users
from recmodel.data.schema import DataError


def partition_users(users: Users, num_partitions: int, *, seed: int) -> list[np.ndarray]:
    """Row indices of ``users`` for each of ``num_partitions`` sites.

    By ``partner_id`` when the data has it: partners sorted by id and dealt
    round-robin onto sites (so P partners onto P sites is one each). Without
    ``partner_id``: users shuffled with ``seed`` and dealt round-robin.
    Raises ``DataError`` when a site would get no user.
    """
    if num_partitions < 1:
        raise DataError(f"num-partitions must be >= 1 (got {num_partitions})")
    if len(users) < num_partitions:
        raise DataError(
            f"more partners ({num_partitions}) than users ({len(users)}): "
            "lower num-supernodes or use a larger dataset"
        )
    partners = users.partner_ids
    if partners is not None and (partners != "").all():
        names = np.unique(partners)
        if len(names) < num_partitions:
            raise DataError(
                f"the data has {len(names)} partner_id values ({', '.join(map(str, names[:10]))}) "
                f"but {num_partitions} sites were requested: set num-supernodes <= {len(names)} "
                "or drop the partner_id column to partition by user"
            )
        site_of_partner = {name: i % num_partitions for i, name in enumerate(names)}
        site = np.array([site_of_partner[p] for p in partners])
        return [np.flatnonzero(site == s) for s in range(num_partitions)]
    order = np.random.default_rng(seed).permutation(len(users))
    return [np.sort(order[s::num_partitions]) for s in range(num_partitions)]
