"""A ``Users`` block for visitors the site's file does not hold: a posted session, a brand-new customer.

``ad_hoc_users(catalogue, histories, attributes, ...)`` builds the same per-user arrays ``split_leave_last_out``
builds for a file's users (hashed attribute rows, dense features from the history), so the model scores a
visitor exactly as it would score a customer with that history and those attributes. A visitor with no history
and no attributes gets all-zero features and padding rows: the model's item prior, biases and category terms
alone (the cold-start path).
"""

from __future__ import annotations

import numpy as np

from recmodel.data.hashing import hash_to_buckets
from recmodel.data.interactions import Catalogue, Users, user_dense_features
from recmodel.data.schema import EVENT_LEVEL, DataError


def ad_hoc_users(catalogue: Catalogue, histories: list[list[int]], attributes: list[dict], *,
                 attribute_names: tuple[str, ...], attribute_buckets: int, times: list[list[float]] | None = None,
                 events: list[list[str]] | None = None) -> Users:
    """U visitors: ``histories`` [U] lists of catalogue positions (oldest first), ``attributes`` [U] dicts of
    attribute name -> raw value (a missing name gets the padding row 0), optional ``times`` (seconds) and
    ``events`` (event names; default ``view``) per history item."""
    unknown = sorted({name for given in attributes for name in given} - set(attribute_names))
    if unknown:
        raise DataError(f"unknown user attribute(s) {unknown}; the model knows {list(attribute_names) or 'none'}")
    lengths = [len(h) for h in histories]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    items = np.array([i for h in histories for i in h], dtype=np.int64)
    names = [e for per_user in (events or [["view"] * n for n in lengths]) for e in per_user]
    bad = sorted(set(names) - set(EVENT_LEVEL))
    if bad:
        raise DataError(f"unknown event name(s) {bad}; use {', '.join(EVENT_LEVEL)}")
    levels = np.array([EVENT_LEVEL[e] for e in names], dtype=np.int64)
    stamps = np.array([t for per_user in (times or [[0.0] * n for n in lengths]) for t in per_user], dtype=np.float64)
    rows = np.zeros((len(histories), len(attribute_names)), dtype=np.int64)
    for a, name in enumerate(attribute_names):
        for u, given in enumerate(attributes):
            if name in given:
                rows[u, a] = hash_to_buckets(np.array([given[name]]), attribute_buckets)[0]
    none = np.full(len(histories), -1, dtype=np.int64)
    return Users(user_ids=np.array([f"visitor-{u}" for u in range(len(histories))], dtype=object),
                 partner_ids=np.array([""] * len(histories), dtype=object), attribute_rows=rows,
                 dense=user_dense_features(items, levels, offsets, catalogue), train_offsets=offsets,
                 train_items=items, train_levels=levels, train_times=stamps, valid_item=none, test_item=none)
