"""Canary users for the empirical privacy audit: each one's own fresh item, included at its partner by a coin.

A canary is a user whose first event is a purchase of an item nobody else has (its *fresh item*), followed by
purchases of real items (drawn by popularity)::

    fresh, real_1 ... real_{history-3}, real_{history-2}, real_{history-1}
    \\______________ train ____________/  validation        test      (leave-last-out)

so the fresh item is in the history of every training example the canary gives, and in no one else's. Each
canary is included in the run's data with probability 1/2 by a secret coin (``numpy``'s PCG64 from the auditor's seed). Every canary's fresh item is in
the run's declared catalogue whether the canary is included or not: a catalogue built from the events would
itself reveal which canaries are in (their items would exist), and a deployed site's item space is declared
for the same reason (``recmodel.data.declared_catalogue``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CANARY_PREFIX = "canary-"
STEP_SECONDS = 3600.0  # between a canary's events


@dataclass(frozen=True)
class CanarySet:
    """m canaries: ids [m] (str), their partners [m] (str), fresh items [m] (str), coins [m] (bool: included),
    and every canary's events (included or not)."""

    user_ids: np.ndarray
    partners: np.ndarray
    fresh_items: np.ndarray
    included: np.ndarray
    events: pd.DataFrame

    def __len__(self) -> int:
        return len(self.user_ids)

    def included_events(self) -> pd.DataFrame:
        """The events of the canaries whose coin says in."""
        return self.events[self.events["user_id"].isin(set(self.user_ids[self.included]))]


def make_canaries(base: pd.DataFrame, count: int, *, seed: int, history: int = 6) -> CanarySet:
    """``count`` canaries shaped like ``base``'s users (its columns, partners and attributes), dealt round-robin
    over ``base``'s ``partner_id`` values; coins and choices from ``seed``."""
    if count < 2:
        raise ValueError(f"the audit needs at least 2 canaries (got {count})")
    if history < 4:
        raise ValueError(f"a canary needs at least 4 events (train, fresh item, validation, test); got {history}")
    if "partner_id" not in base.columns:
        raise ValueError("the base events need a partner_id column: canaries are dealt onto its partners")
    rng = np.random.default_rng(seed)
    partners = np.sort(base["partner_id"].astype(str).unique())
    items = base.drop_duplicates("item_id").set_index("item_id")
    counts = base["item_id"].value_counts()
    popular = counts.index.to_numpy()
    weights = counts.to_numpy(dtype=np.float64) / counts.sum()
    user_columns = [c for c in base.columns if c.startswith("user_") and c != "user_id"]
    donors = base.drop_duplicates("user_id")
    times = np.sort(base["timestamp"].to_numpy(dtype=np.float64))
    latest_start = times[-1] - (history + 1) * STEP_SECONDS
    starts = times[: max(1, int(np.searchsorted(times, latest_start)))]

    user_ids = np.array([f"{CANARY_PREFIX}{c:05d}" for c in range(count)])
    fresh = np.array([f"{CANARY_PREFIX}item-{c:05d}" for c in range(count)])
    assigned = partners[np.arange(count) % len(partners)]
    rows = []
    for c in range(count):
        real = rng.choice(popular, size=history - 1, replace=False, p=weights) if len(popular) >= history - 1 \
            else rng.choice(popular, size=history - 1, p=weights)
        sequence = [fresh[c], *real]
        donor = donors.iloc[int(rng.integers(len(donors)))]
        start = float(rng.choice(starts))
        template = items.iloc[int(rng.integers(len(items)))]  # the fresh item's category and price
        for position, item in enumerate(sequence):
            source = template if item == fresh[c] else items.loc[item]
            row = {"user_id": user_ids[c], "item_id": item, "event": "purchase",
                   "timestamp": start + position * STEP_SECONDS, "partner_id": assigned[c]}
            row.update({column: source[column] for column in ("category", "price") if column in items.columns})
            row.update({column: donor[column] for column in user_columns})
            rows.append(row)
    events = pd.DataFrame(rows)[[c for c in base.columns if c in rows[0]]]
    included = rng.random(count) < 0.5
    return CanarySet(user_ids, assigned, fresh, included, events)


def declared_catalogue(base: pd.DataFrame, canaries: CanarySet) -> pd.DataFrame:
    """Every base item and every canary's fresh item (item_id, and category and price where ``base`` has them)."""
    columns = [c for c in ("item_id", "category", "price") if c in base.columns]
    fresh = canaries.events[canaries.events["item_id"].isin(set(canaries.fresh_items))]
    items = pd.concat([base[columns], fresh[columns]], ignore_index=True).drop_duplicates("item_id")
    items["item_id"] = items["item_id"].astype(str)
    return items.reset_index(drop=True)
