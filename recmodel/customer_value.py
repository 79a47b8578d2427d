"""What each user did, in the data's own units, for people reading profiles (not model features).

The profile model sees log-scaled, normalised summaries; marketing reads the raw events file instead:

  days_since_last_event  float  days from the user's last event to the latest event in the file
  events                 int    the user's events of any kind (every row of the file)
  purchases              int    the user's ``purchase`` events
  spend                  float  total price of the user's purchases, in the file's price unit (its currency);
                                NaN when the file has no ``price`` column
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recmodel.data.item_categories import item_categories, names_of

SECONDS_PER_DAY = 86_400.0
VALUE_COLUMNS = ("days_since_last_event", "events", "purchases", "spend")


def customer_value(events: pd.DataFrame, user_ids: np.ndarray) -> pd.DataFrame:
    """One row per user of ``user_ids`` (in that order) with the columns of ``VALUE_COLUMNS``.

    events: a loaded events file (recmodel.data.schema.load_events: timestamps in seconds).
    """
    by_user = events.groupby(events["user_id"].astype(str))
    purchase = events["event"] == "purchase"
    price = pd.to_numeric(events["price"], errors="coerce") if "price" in events else None
    value = pd.DataFrame({
        "days_since_last_event": (events["timestamp"].max() - by_user["timestamp"].max()) / SECONDS_PER_DAY,
        "events": by_user.size(),
        "purchases": purchase.groupby(events["user_id"].astype(str)).sum(),
        "spend": (price.where(purchase, 0.0).groupby(events["user_id"].astype(str)).sum()
                  if price is not None else np.nan),
    })
    value = value.reindex([str(u) for u in user_ids])
    value["events"] = value["events"].fillna(0).astype(np.int64)
    value["purchases"] = value["purchases"].fillna(0).astype(np.int64)
    return value.reset_index(drop=True)


def category_shares(events: pd.DataFrame, user_ids: np.ndarray) -> pd.DataFrame:
    """[U, categories] share of each user's events per category, by the category names of the file
    (one column ``(none)`` when the file has no ``category`` column); an event on an item with several
    ``categories`` counts for each of them equally (``recmodel.data.item_categories``)."""
    category = events["category"].astype(str) if "category" in events else pd.Series("(none)", index=events.index)
    every = item_categories(events, category.to_numpy())
    names = pd.Series(names_of(every) if every is not None else [[c] for c in category], index=events.index)
    table = pd.DataFrame({"user": events["user_id"].astype(str), "category": names,
                          "weight": 1.0 / names.map(len)}).explode("category")
    counts = pd.crosstab(table["user"], table["category"], values=table["weight"], aggfunc="sum").fillna(0.0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    return shares.reindex([str(u) for u in user_ids]).fillna(0.0).reset_index(drop=True)
