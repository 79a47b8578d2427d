"""Every category of an item, not only its first.

An events file (or a declared catalogue) may carry ``categories``: all of an item's categories, ``|``-separated
(MovieLens genres: ``Adventure|Animation|Comedy``), beside ``category``, the first of them. The ranking model
keeps one category feature per item (``Catalogue.category_rows``, the first); profiles (category affinity and
the next-category target), segment descriptions, audiences and category filters use every category, so that a
comedy listed after "Adventure" counts as a comedy too. Without the column an item has its one ``category``.

The catalogue holds them as compressed rows: ``category_offsets`` [N + 1] into ``category_members`` [M], the
category rows of item i being ``category_members[category_offsets[i]:category_offsets[i + 1]]`` (first = its
``category_rows`` entry), and ``all_categories`` [N], the names joined by ``|``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

SEPARATOR = "|"
COLUMN = "categories"  # the optional events/catalogue column with every category of an item


def item_categories(items: pd.DataFrame, primary: np.ndarray) -> np.ndarray | None:
    """[N] str: each item's categories joined by ``|`` with ``primary`` [N] first (an item with an empty list has
    ``primary`` alone); None when ``items`` has no ``categories`` column."""
    if COLUMN not in items:
        return None
    listed = items[COLUMN].fillna("").astype(str).to_numpy()
    joined = []
    for first, text in zip(np.asarray(primary, dtype=str), listed):
        rest = [name.strip() for name in text.split(SEPARATOR) if name.strip() and name.strip() != first]
        joined.append(SEPARATOR.join([first, *dict.fromkeys(rest)]))
    return np.asarray(joined, dtype=str)


def names_of(all_categories: np.ndarray) -> list[list[str]]:
    """Each item's category names, first first."""
    return [str(text).split(SEPARATOR) for text in all_categories]


def category_membership(all_categories: np.ndarray, rows_of: Callable[[np.ndarray], np.ndarray]
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(offsets [N + 1], members [M]): the rows ``rows_of(names [M]) -> [M] int64`` gives every category of
    every item."""
    names = names_of(all_categories)
    offsets = np.concatenate(([0], np.cumsum([len(n) for n in names]))).astype(np.int64)
    flat = np.asarray([name for item in names for name in item], dtype=str)
    return offsets, np.asarray(rows_of(flat), dtype=np.int64)


def spread_over_categories(offsets: np.ndarray, members: np.ndarray, items: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For events on catalogue positions ``items`` [E]: (event index [M'], category row [M'], weight [M']), each
    event's weight 1 shared equally among its item's categories."""
    starts = offsets[items]
    lengths = offsets[items + 1] - starts
    event = np.repeat(np.arange(len(items)), lengths)
    within = np.arange(len(event)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return event, members[np.repeat(starts, lengths) + within], np.repeat(1.0 / np.maximum(lengths, 1), lengths)


def items_in_categories(category_lists: list[list[str]], wanted) -> np.ndarray:
    """[N] bool: items with at least one of the names ``wanted`` among their categories
    (``category_lists``: ``Catalogue.category_lists``)."""
    wanted = {str(name) for name in wanted}
    return np.fromiter((bool(wanted.intersection(names)) for names in category_lists), dtype=bool,
                       count=len(category_lists))
