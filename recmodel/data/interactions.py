"""From events to per-user chronological interactions, split leave-last-out.

An interaction is a distinct (user, item) pair; its time is the first event's,
its strength the deepest funnel step reached. Per user, the last interaction
is the test item, the one before it the validation item, the rest train.
Users with fewer than ``min_interactions`` interactions are dropped (counted).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recmodel.data.hashing import hash_to_buckets
from recmodel.data.item_categories import category_membership, item_categories, names_of
from recmodel.data.schema import EVENT_LEVEL, EVENT_TYPES, DataError, user_attribute_columns

PRICE_SCALE = 5.0  # log1p(price) / PRICE_SCALE keeps typical prices in [0, 2]
USER_DENSE_FEATURES = (
    *(f"share_{name}" for name in EVENT_TYPES),
    "log_interactions",
    "mean_log_price",
)


@dataclass(frozen=True)
class Catalogue:
    """The item catalogue: N items, arrays indexed by catalogue position.

    item_ids: raw ids [N]; item_rows: hashed embedding rows [N] (int64);
    category_rows: hashed category rows [N] (int64); price_feature:
    log1p(price)/5 [N] (float32); popularity: train interactions per item [N];
    item_buckets: the item tables' row count. Asked for 0 buckets, every item
    gets its own row (``catalogue_rows``: row = 1 + position, N + 1 rows), which
    needs a catalogue every site shares (a simulation's data file); otherwise
    raw ids are hashed into ``item_buckets`` rows, and items that share a row
    share their embeddings (hashing N items into M rows: about 1 - exp(-N/M)
    of them; 91% for 9,742 MovieLens items in 4,096 rows).
    """

    item_ids: np.ndarray
    item_rows: np.ndarray
    category_rows: np.ndarray
    categories: np.ndarray
    price_feature: np.ndarray
    popularity: np.ndarray
    item_buckets: int  # rows of the item tables that item_rows index (1..item_buckets-1; 0 is padding)
    catalogue_rows: bool = False  # True: item_rows = 1 + catalogue position (no two items share a row)
    category_names: tuple[str, ...] | None = None  # set: category_rows = 1 + index here (no two share a row);
    # None: category names hashed into the category buckets
    all_categories: np.ndarray | None = None  # [N] str, every category of an item, "|"-joined, first = categories
    category_offsets: np.ndarray | None = None  # [N + 1] into category_members (recmodel.data.item_categories)
    category_members: np.ndarray | None = None  # [M] category rows of every category of every item

    @functools.cached_property
    def category_lists(self) -> list[list[str]]:
        """[N] lists of every category name of each item, the ``categories`` entry first (computed once)."""
        if self.all_categories is None:
            return [[str(name)] for name in self.categories]
        return names_of(self.all_categories)

    def category_membership(self) -> tuple[np.ndarray, np.ndarray]:
        """(offsets [N + 1], rows [M]) of every category row of every item (one each: ``category_rows``)."""
        if self.category_offsets is None:
            return np.arange(len(self.item_ids) + 1, dtype=np.int64), self.category_rows
        return self.category_offsets, self.category_members

    def __len__(self) -> int:
        return len(self.item_ids)


@dataclass(frozen=True)
class Users:
    """U users with their split interactions and features.

    user_ids, partner_ids: raw ids [U]; attribute_rows: hashed user attributes
    [U, A] (int64); dense: user dense features [U, len(USER_DENSE_FEATURES)]
    (float32, from train interactions only); train_offsets [U+1] index into
    train_items (catalogue positions, chronological) and train_levels (funnel
    depth 0..3) and train_times (seconds); valid_item, test_item: catalogue
    positions [U].
    """

    user_ids: np.ndarray
    partner_ids: np.ndarray
    attribute_rows: np.ndarray
    dense: np.ndarray
    train_offsets: np.ndarray
    train_items: np.ndarray
    train_levels: np.ndarray
    train_times: np.ndarray
    valid_item: np.ndarray
    test_item: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)

    def train_items_of(self, user: int) -> np.ndarray:
        """Catalogue positions of one user's training interactions, oldest first."""
        return self.train_items[self.train_offsets[user] : self.train_offsets[user + 1]]

    def subset(self, rows: np.ndarray) -> "Users":
        """The users at positions ``rows`` (order kept)."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = self.train_offsets[rows], self.train_offsets[rows + 1]
        lengths = ends - starts
        take = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)]) if len(rows) else np.zeros(0, np.int64)
        return Users(
            user_ids=self.user_ids[rows],
            partner_ids=self.partner_ids[rows],
            attribute_rows=self.attribute_rows[rows],
            dense=self.dense[rows],
            train_offsets=np.concatenate(([0], np.cumsum(lengths))).astype(np.int64),
            train_items=self.train_items[take],
            train_levels=self.train_levels[take],
            train_times=self.train_times[take],
            valid_item=self.valid_item[rows],
            test_item=self.test_item[rows],
        )


@dataclass(frozen=True)
class SplitData:
    catalogue: Catalogue
    users: Users
    attribute_names: tuple[str, ...]
    dropped_users: int


def split_leave_last_out(
    events: pd.DataFrame,
    *,
    item_buckets: int,
    category_buckets: int,
    attribute_buckets: int,
    min_interactions: int = 3,
    source: str = "events",
    holdout: bool = True,
    items: pd.DataFrame | None = None,
    distinct_categories: bool = False,
) -> SplitData:
    """Build the catalogue and the per-user temporal split from an events table.

    ``holdout=False`` (serving): every interaction counts as train (history and
    "already seen"); ``valid_item``/``test_item`` then repeat the last one.
    ``items`` (a deployed site's declared catalogue, ``recmodel.data.declared_catalogue``): the catalogue is
    these items, with their category and price, whatever the events hold; ``events`` must be on them only.
    ``distinct_categories``: when the catalogue has fewer categories than category rows, each gets its own row
    (1 + its index among the sorted names, ``Catalogue.category_names``) instead of a hashed one, so no two share
    a row (a shared catalogue only: every party must see the same names; a model file records them).
    """
    interactions = _interactions(events)
    per_user = interactions.groupby("user_id", sort=True).size()
    keep = per_user.index[per_user >= min_interactions]
    dropped = int(len(per_user) - len(keep))
    interactions = interactions[interactions["user_id"].isin(keep)]
    if interactions.empty:
        raise DataError(
            f"{source}: no user has at least {min_interactions} distinct interactions "
            f"({dropped} users dropped); lower min-interactions or add data"
        )
    catalogue = _catalogue(events if items is None else items, interactions, item_buckets, category_buckets)
    names = sorted({name for names in catalogue.category_lists for name in names})
    if distinct_categories and len(names) < category_buckets:
        catalogue = with_category_names(catalogue, names)
    position = pd.Series(np.arange(len(catalogue)), index=catalogue.item_ids)
    interactions = interactions.assign(position=position.loc[interactions["item_id"]].to_numpy())
    users, attribute_names = _users(events, interactions, catalogue, attribute_buckets, holdout)
    return SplitData(catalogue, users, attribute_names, dropped)


def _interactions(events: pd.DataFrame) -> pd.DataFrame:
    frame = events[["user_id", "item_id", "timestamp"]].copy()
    frame["level"] = events["event"].map(EVENT_LEVEL).to_numpy()
    frame = frame.sort_values(["user_id", "timestamp"], kind="stable")
    grouped = frame.groupby(["user_id", "item_id"], sort=False)
    interactions = grouped.agg(timestamp=("timestamp", "min"), level=("level", "max")).reset_index()
    return interactions.sort_values(["user_id", "timestamp", "item_id"], kind="stable").reset_index(drop=True)


def _catalogue(events, interactions, item_buckets, category_buckets) -> Catalogue:
    items = events.drop_duplicates("item_id").set_index("item_id").sort_index()
    item_ids = items.index.to_numpy()
    catalogue_rows = item_buckets == 0
    item_buckets = len(item_ids) + 1 if catalogue_rows else item_buckets
    categories = items["category"].astype(str).to_numpy() if "category" in items else np.full(len(items), "none")
    every = item_categories(items, categories)
    prices = pd.to_numeric(items["price"], errors="coerce").fillna(0).clip(lower=0).to_numpy() if "price" in items else np.zeros(len(items))
    last_two = interactions.groupby("user_id").cumcount(ascending=False) < 2
    train_counts = interactions.loc[~last_two, "item_id"].value_counts()  # popularity never sees held-out items
    catalogue = Catalogue(
        item_ids=item_ids,
        item_rows=np.arange(1, len(item_ids) + 1) if catalogue_rows else hash_to_buckets(item_ids, item_buckets),
        category_rows=hash_to_buckets(categories, category_buckets),
        categories=categories,
        price_feature=(np.log1p(prices) / PRICE_SCALE).astype(np.float32),
        popularity=train_counts.reindex(item_ids, fill_value=0).to_numpy(dtype=np.float64),
        item_buckets=item_buckets,
        catalogue_rows=catalogue_rows,
    )
    return _with_every_category(catalogue, every, lambda names: hash_to_buckets(names, category_buckets))


def _with_every_category(catalogue: Catalogue, every: np.ndarray | None, rows_of) -> Catalogue:
    """``catalogue`` with the rows ``rows_of(names) -> rows`` of all of each item's categories ``every`` [N]
    (None: one category per item)."""
    if every is None:
        return dataclasses.replace(catalogue, all_categories=None, category_offsets=None, category_members=None)
    offsets, members = category_membership(every, rows_of)
    return dataclasses.replace(catalogue, all_categories=every, category_offsets=offsets, category_members=members)


def _users(events, interactions, catalogue, attribute_buckets, holdout=True):
    first = events.drop_duplicates("user_id").set_index("user_id")
    user_ids = np.asarray(sorted(interactions["user_id"].unique()))
    first = first.loc[user_ids]
    attribute_names = tuple(user_attribute_columns(events))
    attribute_rows = np.stack(
        [hash_to_buckets(first[name].to_numpy(), attribute_buckets) for name in attribute_names], axis=1
    ) if attribute_names else np.zeros((len(user_ids), 0), dtype=np.int64)
    partner_ids = first["partner_id"].astype(str).to_numpy() if "partner_id" in first else np.full(len(user_ids), "")

    counts = interactions.groupby("user_id", sort=True).size().loc[user_ids].to_numpy()
    ends = np.cumsum(counts)
    position = interactions["position"].to_numpy()
    levels = interactions["level"].to_numpy()
    times = interactions["timestamp"].to_numpy(dtype=np.float64)
    test_item, valid_item = position[ends - 1], position[ends - 2]
    train_mask = np.ones(len(position), dtype=bool)
    if holdout:
        train_mask[ends - 1] = False
        train_mask[ends - 2] = False
    else:
        valid_item = test_item
    train_items, train_levels, train_times = position[train_mask], levels[train_mask], times[train_mask]
    train_counts = counts - (2 if holdout else 0)
    offsets = np.concatenate(([0], np.cumsum(train_counts))).astype(np.int64)
    dense = user_dense_features(train_items, train_levels, offsets, catalogue)
    return Users(
        user_ids=user_ids,
        partner_ids=partner_ids,
        attribute_rows=attribute_rows,
        dense=dense,
        train_offsets=offsets,
        train_items=train_items.astype(np.int64),
        train_levels=train_levels.astype(np.int64),
        train_times=train_times,
        valid_item=valid_item.astype(np.int64),
        test_item=test_item.astype(np.int64),
    ), attribute_names


def user_dense_features(train_items, train_levels, offsets, catalogue) -> np.ndarray:
    """[U, 6] float32: event-level shares (4), log interactions, mean log price."""
    user_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    counts = np.diff(offsets).astype(np.float64)
    shares = np.zeros((len(counts), len(EVENT_TYPES)))
    np.add.at(shares, (user_of, train_levels), 1.0)
    shares /= np.maximum(counts, 1)[:, None]
    price = np.zeros(len(counts))
    np.add.at(price, user_of, catalogue.price_feature[train_items])
    price /= np.maximum(counts, 1)
    dense = np.column_stack([shares, np.log1p(counts) / PRICE_SCALE, price])
    return dense.astype(np.float32)


def with_category_names(catalogue: Catalogue, names: list[str]) -> Catalogue:
    """``catalogue`` with category rows 1 + index of each item's category in ``names`` (a category ``names`` lacks
    gets row 0, padding): the rows a model trained with ``distinct_categories`` used."""
    row_of = {str(name): row for row, name in enumerate(names, start=1)}

    def rows_of(categories: np.ndarray) -> np.ndarray:
        return np.array([row_of.get(str(c), 0) for c in categories], dtype=np.int64)

    named = dataclasses.replace(catalogue, category_rows=rows_of(catalogue.categories),
                                category_names=tuple(map(str, names)))
    return _with_every_category(named, catalogue.all_categories, rows_of)


def with_model_categories(catalogue: Catalogue, names: list[str] | None, buckets: int) -> Catalogue:
    """``catalogue`` with the category rows a model used: its recorded ``names`` (one row each), or, for a model
    that recorded none, the names hashed into ``buckets`` rows."""
    if names is not None:
        return with_category_names(catalogue, names)
    hashed = dataclasses.replace(catalogue, category_rows=hash_to_buckets(catalogue.categories, buckets),
                                 category_names=None)
    return _with_every_category(hashed, catalogue.all_categories, lambda names: hash_to_buckets(names, buckets))


def with_trained_rows(catalogue: Catalogue, trained_item_ids: list[str]) -> Catalogue:
    """``catalogue`` with item rows of a model trained with ``catalogue_rows``: 1 + position in the
    training catalogue ``trained_item_ids``; an item that catalogue lacks gets row 0 (padding)."""
    row_of = {str(item): row for row, item in enumerate(trained_item_ids, start=1)}
    rows = np.array([row_of.get(str(item), 0) for item in catalogue.item_ids], dtype=np.int64)
    return dataclasses.replace(catalogue, item_rows=rows, item_buckets=len(trained_item_ids) + 1,
                               catalogue_rows=True)
