"""Per-user behaviour summaries, the input of the user-profile model.

For each user, from a set of their interactions (by default all train ones):
  category affinity  [C]  share of interactions per category row (x 5); an item with several categories
                          shares its interaction equally among them
  event mix          [4]  share of interactions ending at view/click/cart/purchase
  recency            [1]  log1p(days since the user's last interaction, to ``reference_time``) / 5
  frequency          [1]  log1p(interactions) / 5
  monetary           [1]  mean log1p(price) / 5
  demographics [A * R]    one-hot of each hashed user attribute, x 0.2 (input only)
The first C + 7 columns ("behaviour") are what the autoencoder reconstructs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recmodel.data.interactions import PRICE_SCALE, Catalogue, Users
from recmodel.data.item_categories import spread_over_categories
from recmodel.data.schema import EVENT_TYPES

SECONDS_PER_DAY = 86_400.0
AFFINITY_SCALE = 5.0  # category shares sum to 1 over C columns: scaled up to weigh as much as the rest
DEMOGRAPHIC_SCALE = 0.2  # one-hot attributes: scaled down so interests, not demographics, shape the profile


@dataclass(frozen=True)
class ProfileInputs:
    """features [U, F] float32 (behaviour then demographics); behaviour_dim = C + 7."""

    features: np.ndarray
    behaviour_dim: int


def profile_feature_dim(category_buckets: int, num_attributes: int, attribute_buckets: int) -> tuple[int, int]:
    """(input dim, behaviour dim)."""
    behaviour = category_buckets + len(EVENT_TYPES) + 3
    return behaviour + num_attributes * attribute_buckets, behaviour


def summarise(catalogue: Catalogue, users: Users, *, category_buckets: int, attribute_buckets: int,
              reference_time: float, drop_last: bool = False) -> ProfileInputs:
    """Summaries of every user's train interactions (``drop_last``: without each user's last one).

    ``reference_time`` (seconds): recency is measured against it, a public value (the run config's resolved
    ``reference-time``), never against the site's own latest event: each user's row depends on that user alone.
    """
    counts = np.diff(users.train_offsets)
    keep = np.ones(len(users.train_items), dtype=bool)
    if drop_last:
        last = users.train_offsets[1:] - 1
        keep[last[counts > 1]] = False  # a user with one train item keeps it
    user_of = np.repeat(np.arange(len(users)), counts)[keep]
    items, levels, times = users.train_items[keep], users.train_levels[keep], users.train_times[keep]
    n = np.bincount(user_of, minlength=len(users)).astype(np.float64)
    denominator = np.maximum(n, 1)[:, None]
    affinity = np.zeros((len(users), category_buckets))
    event, rows, weight = spread_over_categories(*catalogue.category_membership(), items)
    np.add.at(affinity, (user_of[event], rows), weight)  # an event's 1 shared among its item's categories
    mix = np.zeros((len(users), len(EVENT_TYPES)))
    np.add.at(mix, (user_of, levels), 1.0)
    last_time = np.full(len(users), -np.inf)
    np.maximum.at(last_time, user_of, times)
    recency = np.log1p(np.clip(float(reference_time) - last_time, 0, None) / SECONDS_PER_DAY) / PRICE_SCALE
    recency[~np.isfinite(recency)] = 0.0
    price = np.zeros(len(users))
    np.add.at(price, user_of, catalogue.price_feature[items])
    behaviour = np.column_stack([AFFINITY_SCALE * affinity / denominator, mix / denominator, recency,
                                 np.log1p(n) / PRICE_SCALE, price / denominator[:, 0]])
    demographics = np.zeros((len(users), users.attribute_rows.shape[1] * attribute_buckets))
    for a in range(users.attribute_rows.shape[1]):
        demographics[np.arange(len(users)), a * attribute_buckets + users.attribute_rows[:, a]] = DEMOGRAPHIC_SCALE
    return ProfileInputs(np.hstack([behaviour, demographics]).astype(np.float32), behaviour.shape[1])


def next_category_targets(catalogue: Catalogue, users: Users, *, target: str,
                          category_buckets: int) -> np.ndarray:
    """The categories of each user's next interaction: ``last_train`` (for training) or ``test``.

    [U] int64 category rows when every item has one category; [U, category_buckets] float32 shares (1 spread
    equally over the item's categories) when some item has several (``recmodel.data.item_categories``)."""
    if target == "test":
        items = users.test_item
    else:
        items = users.train_items[np.maximum(users.train_offsets[1:] - 1, 0)]
    if catalogue.category_offsets is None:
        return catalogue.category_rows[items]
    shares = np.zeros((len(items), category_buckets), dtype=np.float32)
    event, rows, weight = spread_over_categories(*catalogue.category_membership(), items)
    np.add.at(shares, (event, rows), weight)
    return shares
