"""Deterministic synthetic marketing behaviour logs (no download needed).

Structure that a recommender can learn:

- Each partner has its own category mix (non-IID partners, disjoint users).
- Each user has two favourite categories drawn from the partner's mix, tilted
  by the user's age group; 80% of the user's interactions fall in them.
- Within a category, items are chosen by a power-law (Zipf) popularity.
- An interaction is a funnel: ``view`` then maybe ``click``, ``add_to_cart``,
  ``purchase``; each step is one event row with its own timestamp.

The same arguments always give the same table (``numpy`` Generator seeded by
``seed``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400.0
START_TIMESTAMP = 1_700_000_000.0  # 2023-11-14, arbitrary fixed origin
FAVOURITES_PER_USER = 2
FAVOURITE_SHARE = 0.8
FUNNEL_PROBABILITIES = (0.5, 0.35, 0.5)  # click | view, cart | click, purchase | cart


@dataclass(frozen=True)
class SyntheticSpec:
    """Size and shape of a synthetic data set."""

    users: int = 3000
    items: int = 1000
    categories: int = 20
    partners: int = 2
    mean_interactions: float = 30.0
    zipf_exponent: float = 1.0
    seed: int = 0


def generate_events(spec: SyntheticSpec) -> pd.DataFrame:
    """Events table in the project's schema, sorted by user then time.

    Columns: user_id (str), item_id (str), event, timestamp (float seconds),
    partner_id (str), category (str), price (float), user_age_group (int),
    user_gender (int), user_region (int), and ``latent_favourites`` (str, the
    user's two favourite categories, kept as ground truth for tests; it is not
    a user attribute and the model never reads it).
    """
    if spec.partners < 1 or spec.users < spec.partners:
        raise ValueError(
            f"synthetic data needs at least one user per partner "
            f"(users={spec.users}, partners={spec.partners})"
        )
    rng = np.random.default_rng(spec.seed)
    item_category, item_price, item_weight = _items(spec, rng)
    users = _users(spec, rng)
    interactions = _interactions(spec, rng, users, item_category, item_weight)
    events = _funnel_events(rng, interactions)
    return _as_table(events, users, item_category, item_price)


def generate_event_chunks(spec: SyntheticSpec, users_per_chunk: int) -> Iterator[pd.DataFrame]:
    """``generate_events``'s table for ``spec.users`` users, ``users_per_chunk`` users at a time (partner-scale data
    in bounded memory). Every chunk shares one item set (ids, categories, prices, popularity: seed ``spec.seed``)
    and draws its own users (seed ``spec.seed + 1 + chunk``); user ids run on across chunks."""
    item_category, item_price, item_weight = _items(spec, np.random.default_rng(spec.seed))
    for chunk, first in enumerate(range(0, spec.users, users_per_chunk)):
        chunk_spec = replace(spec, users=min(users_per_chunk, spec.users - first))
        rng = np.random.default_rng(spec.seed + 1 + chunk)
        users = _users(chunk_spec, rng)
        events = _funnel_events(rng, _interactions(chunk_spec, rng, users, item_category, item_weight))
        yield _as_table(events, users, item_category, item_price, first_user=first)


def synthetic_catalogue(spec: SyntheticSpec) -> pd.DataFrame:
    """The item list of ``spec``'s items (a declared catalogue): ``item_id``, ``category``, ``price``, [spec.items]."""
    item_category, item_price, _ = _items(spec, np.random.default_rng(spec.seed))
    return pd.DataFrame({"item_id": [_item_id(i) for i in range(spec.items)],
                         "category": [_category_name(c) for c in item_category], "price": item_price})


def _item_id(item: int) -> str:
    return f"i{item:06d}"


def _category_name(category: int) -> str:
    return f"cat{category:02d}"


def _items(spec: SyntheticSpec, rng: np.random.Generator):
    item_category = rng.permutation(np.arange(spec.items) % spec.categories)
    category_price = rng.lognormal(mean=3.0, sigma=0.8, size=spec.categories)
    item_price = np.round(category_price[item_category] * rng.lognormal(0, 0.3, spec.items), 2)
    popularity_rank = rng.permutation(spec.items) + 1
    item_weight = popularity_rank.astype(float) ** -spec.zipf_exponent
    return item_category, item_price, item_weight


def _users(spec: SyntheticSpec, rng: np.random.Generator) -> pd.DataFrame:
    partner = np.sort(np.arange(spec.users) % spec.partners)
    partner_mix = rng.dirichlet(np.full(spec.categories, 0.5), size=spec.partners)
    age_group = rng.integers(0, 6, spec.users)
    age_affinity = rng.dirichlet(np.full(spec.categories, 2.0), size=6)
    favourites = np.empty((spec.users, FAVOURITES_PER_USER), dtype=np.int64)
    for user in range(spec.users):
        weights = partner_mix[partner[user]] * age_affinity[age_group[user]] + 1e-3
        favourites[user] = rng.choice(
            spec.categories, size=FAVOURITES_PER_USER, replace=False, p=weights / weights.sum()
        )
    return pd.DataFrame(
        {
            "partner": partner,
            "age_group": age_group,
            "gender": rng.integers(0, 3, spec.users),
            "region": rng.integers(0, 5, spec.users),
            "favourite_a": favourites[:, 0],
            "favourite_b": favourites[:, 1],
            "interactions": 3 + rng.poisson(spec.mean_interactions - 3, spec.users),
            "start": START_TIMESTAMP + rng.uniform(0, 60, spec.users) * SECONDS_PER_DAY,
        }
    )


def _interactions(spec, rng, users, item_category, item_weight) -> pd.DataFrame:
    """One row per (user, item) interaction with a timestamp."""
    items_by_category = [np.flatnonzero(item_category == c) for c in range(spec.categories)]
    probs_by_category = [item_weight[i] / item_weight[i].sum() for i in items_by_category]
    counts = users["interactions"].to_numpy()
    user_index = np.repeat(np.arange(spec.users), counts)
    total = len(user_index)
    in_favourite = rng.random(total) < FAVOURITE_SHARE
    pick_b = rng.random(total) < 0.4
    favourite = np.where(
        pick_b, users["favourite_b"].to_numpy()[user_index], users["favourite_a"].to_numpy()[user_index]
    )
    category = np.where(in_favourite, favourite, rng.integers(0, spec.categories, total))
    item = np.empty(total, dtype=np.int64)
    for c in range(spec.categories):
        rows = np.flatnonzero(category == c)
        item[rows] = rng.choice(items_by_category[c], size=len(rows), p=probs_by_category[c])
    gaps = rng.exponential(0.7 * SECONDS_PER_DAY, total)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    cumulative = np.cumsum(gaps)
    offset = cumulative - np.repeat(cumulative[starts] - gaps[starts], counts)
    timestamp = users["start"].to_numpy()[user_index] + offset
    frame = pd.DataFrame({"user": user_index, "item": item, "timestamp": timestamp})
    return frame.drop_duplicates(["user", "item"], keep="first").reset_index(drop=True)


def _funnel_events(rng, interactions: pd.DataFrame) -> pd.DataFrame:
    n = len(interactions)
    depth = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    for p in FUNNEL_PROBABILITIES:
        alive &= rng.random(n) < p
        depth += alive
    repeated = interactions.loc[interactions.index.repeat(depth + 1)].reset_index(drop=True)
    level = np.concatenate([np.arange(d + 1) for d in depth])
    repeated["level"] = level
    repeated["timestamp"] = repeated["timestamp"] + level * rng.uniform(5, 120, len(level))
    return repeated


def _as_table(events, users, item_category, item_price, first_user: int = 0) -> pd.DataFrame:
    from recmodel.data.schema import EVENT_TYPES

    user = events["user"].to_numpy()
    item = events["item"].to_numpy()
    table = pd.DataFrame(
        {
            "user_id": pd.Series(user + first_user).map(lambda u: f"u{u:06d}"),
            "item_id": pd.Series(item).map(_item_id),
            "event": np.asarray(EVENT_TYPES)[events["level"].to_numpy()],
            "timestamp": events["timestamp"].round(3).to_numpy(),
            "partner_id": pd.Series(users["partner"].to_numpy()[user]).map(lambda p: f"partner-{p}"),
            "category": pd.Series(item_category[item]).map(_category_name),
            "price": item_price[item],
            "user_age_group": users["age_group"].to_numpy()[user],
            "user_gender": users["gender"].to_numpy()[user],
            "user_region": users["region"].to_numpy()[user],
            "latent_favourites": [
                f"{_category_name(a)},{_category_name(b)}"
                for a, b in zip(users["favourite_a"].to_numpy()[user], users["favourite_b"].to_numpy()[user])
            ],
        }
    )
    return table.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
