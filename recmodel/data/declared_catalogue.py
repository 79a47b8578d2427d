"""A deployed site's item space: a catalogue file the federation agrees on, not the items its users touched.

A site that built its catalogue from its own events would let its users define the item space: one user's
rare item would become a negative and a ranking candidate for every other user, and the first user to buy an
item would set its price for everyone, so one user's presence would change the others' contributions. A
deployed site therefore reads its item space from a declared, public file (``catalogue-path`` in its node
config): ``item_id`` plus optional ``category``, ``categories`` and ``price`` columns (.parquet or .csv), the
same file at every site (a shop's public product list, or one the coordinator hands out). Its users' events on
items that are not in it are left out, and counted in the site's own log only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recmodel.data.schema import DataError

CATALOGUE_COLUMNS = ("item_id", "category", "categories", "price")  # categories: every one, "|"-joined


def load_declared_catalogue(path: str | Path) -> pd.DataFrame:
    """The declared items: ``item_id`` (str, unique) and, when the file has them, ``category`` and ``price``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"catalogue-path: file '{path}' does not exist")
    try:
        with path.open("rb") as handle:
            items = pd.read_parquet(handle) if path.suffix == ".parquet" else pd.read_csv(handle, dtype={"item_id": str})
    except Exception as error:  # noqa: BLE001 -- any reader error is a bad file, named
        raise DataError(f"catalogue-path '{path}': cannot read it as {path.suffix or 'CSV'}: {error}") from None
    if "item_id" not in items.columns:
        raise DataError(f"catalogue-path '{path}': no item_id column (columns: {list(items.columns)[:10]})")
    items = items[[c for c in CATALOGUE_COLUMNS if c in items.columns]].copy()
    items["item_id"] = items["item_id"].astype(str)
    if items.empty:
        raise DataError(f"catalogue-path '{path}': no items")
    duplicated = items["item_id"][items["item_id"].duplicated()]
    if len(duplicated):
        raise DataError(f"catalogue-path '{path}': item id {duplicated.iloc[0]!r} appears more than once")
    return items.reset_index(drop=True)


def events_in_catalogue(events: pd.DataFrame, items: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The events on declared items (their own category and price columns dropped: the catalogue's count), and
    how many events were left out."""
    known = events["item_id"].astype(str).isin(items["item_id"])
    kept = events[known].drop(columns=[c for c in CATALOGUE_COLUMNS[1:] if c in events.columns])
    kept = kept.assign(item_id=kept["item_id"].astype(str))
    return kept, int((~known).sum())
