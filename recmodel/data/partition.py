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


def assign_partners(events, *, by: str, partners: int, alpha: float = 0.5, seed: int = 0) -> dict:
    """Map each user_id to a partner index for an events table.

    ``partner``: by the existing ``partner_id`` column (dealt round-robin onto
    ``partners`` sites); ``user``: users shuffled and dealt round-robin;
    ``dirichlet``: non-IID by each user's most frequent category, category c's
    users split over partners by proportions ~ Dirichlet(alpha) (small alpha =
    more skew).
    """
    users = np.asarray(sorted(events["user_id"].unique()))
    if len(users) < partners:
        raise DataError(f"more partners ({partners}) than users ({len(users)})")
    rng = np.random.default_rng(seed)
    if by == "partner":
        if "partner_id" not in events:
            raise DataError("--by partner needs a partner_id column; use --by user or --by dirichlet")
        first = events.drop_duplicates("user_id").set_index("user_id")["partner_id"].astype(str)
        names = np.unique(first.to_numpy())
        site = {name: i % partners for i, name in enumerate(names)}
        return {u: site[first[u]] for u in users}
    if by == "user":
        order = rng.permutation(len(users))
        return {users[i]: rank % partners for rank, i in enumerate(order)}
    if by == "dirichlet":
        if not alpha > 0:
            raise DataError(f"--alpha must be > 0 (got {alpha})")
        column = "category" if "category" in events else "item_id"
        dominant = events.groupby("user_id")[column].agg(lambda s: s.value_counts().index[0])
        assignment = {}
        for _, group in dominant.groupby(dominant):
            members = rng.permutation(group.index.to_numpy())
            shares = rng.dirichlet(np.full(partners, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(members)).round().astype(int)
            for site, chunk in enumerate(np.split(members, cuts)):
                assignment.update({u: site for u in chunk})
        return assignment
    raise DataError(f"--by {by!r} is not supported; allowed: partner, user, dirichlet")
