"""Activity segments: users grouped by how many training interactions they have.

The edges are public constants, the same at every site and in every run, so a coordinator can add up the
per-segment sums that sites release (``recmodel.private_marketing``) without learning anything about where a
site's users fall beyond those noised sums. Marketing reads them as new, regular and loyal customers.
"""

from __future__ import annotations

import numpy as np

from recmodel.data.interactions import Users

SEGMENT_EDGES = (1, 5, 20)  # a segment holds users with at least its edge and fewer than the next edge's
SEGMENT_NAMES = ("01-04 interactions", "05-19 interactions", "20+ interactions")  # sort as they read


def activity_segments(users: Users) -> np.ndarray:
    """[U] int64 segment index (into ``SEGMENT_NAMES``) of each user's number of training interactions
    (a user with none falls in the first)."""
    counts = np.diff(users.train_offsets)
    return np.maximum(np.searchsorted(SEGMENT_EDGES, counts, side="right") - 1, 0).astype(np.int64)
