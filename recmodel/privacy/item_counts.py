"""A site's item popularity as a DP release: Gaussian-noised counts over the item rows.

Each user contributes a vector over item rows (the hashed rows the models'
item tables use, so sites with different catalogues still add up): weight
proportional to how many of the user's ``recent`` latest train items fall in
each row, scaled to L2 norm exactly 1. Adding or removing one user changes
the summed vector by at most 1 in L2, so noise of std ``noise_multiplier``
on every row is ``noise_multiplier``-Gaussian DP (one ledger entry,
mechanism ``gaussian``, sample rate 1, one step, L2 bound 1). The noise comes
from the site's secret generator.
"""

from __future__ import annotations

import numpy as np
import torch

from recmodel.data.interactions import Catalogue, Users
from recmodel.privacy.mechanism_rng import secret_generator

L2_BOUND = 1.0  # one user's vector has exactly this norm


def item_count_sums(catalogue: Catalogue, users: Users, *, recent: int) -> np.ndarray:
    """Sum over users of their unit vectors over item rows, [item_buckets] float64 (row 0, padding, stays 0).

    ``recent``: how many of each user's latest train items count (0: all).
    """
    sums = np.zeros(catalogue.item_buckets, dtype=np.float64)
    for user in range(len(users)):
        items = users.train_items_of(user)
        if recent:
            items = items[-recent:]
        if len(items) == 0:
            continue
        rows, counts = np.unique(catalogue.item_rows[items], return_counts=True)
        sums[rows] += counts / np.sqrt(np.square(counts, dtype=np.float64).sum())
    return sums


def release_item_counts(catalogue: Catalogue, users: Users, *, recent: int, noise_multiplier: float,
                        generator: torch.Generator | None = None) -> np.ndarray:
    """``item_count_sums`` plus Gaussian noise of std ``noise_multiplier`` (x the L2 bound 1) on every row."""
    if not noise_multiplier > 0:
        raise ValueError(f"noise_multiplier must be > 0 (got {noise_multiplier})")
    exact = item_count_sums(catalogue, users, recent=recent)
    generator = generator if generator is not None else secret_generator()
    noise = torch.normal(0.0, noise_multiplier * L2_BOUND, size=exact.shape, generator=generator,
                         dtype=torch.float64).numpy()
    return exact + noise


def prior_from_counts(counts: np.ndarray) -> np.ndarray:
    """The DLRM's item prior from summed (noised) counts: log1p(max(0, count)), [item_buckets] float32.

    Post-processing of the releases: no further privacy cost.
    """
    return np.log1p(np.clip(np.asarray(counts, dtype=np.float64), 0.0, None)).astype(np.float32)
