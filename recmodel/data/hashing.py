"""Stable hashing of raw ids into embedding rows.

Python's ``hash`` is salted per process, so it cannot be used: every partner
must map the same raw id to the same row. Row 0 is never produced; it is kept
free as padding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def hash_to_buckets(values: pd.Series | np.ndarray, buckets: int) -> np.ndarray:
    """Map raw values (any type; compared as strings) to rows ``1..buckets-1``.

    Returns int64 array of the same length.
    """
    if buckets < 2:
        raise ValueError(f"buckets must be >= 2 (got {buckets})")
    as_text = pd.Series(np.asarray(values)).astype(str)
    hashed = pd.util.hash_pandas_object(as_text, index=False).to_numpy(dtype=np.uint64)
    return (hashed % np.uint64(buckets - 1)).astype(np.int64) + 1
