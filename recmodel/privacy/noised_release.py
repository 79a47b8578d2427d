"""Gaussian-noised sums: how a site releases evaluation figures with DP.

Each user contributes a vector of per-user values, every one in [0, 1] (e.g.
their NDCG@10 and hit@10), plus 1 to a count. So one user changes the
released vector by at most ``sqrt(K + 1)`` in L2 (K values plus the count):
the Gaussian mechanism with noise std ``noise_multiplier * sqrt(K + 1)`` on
every coordinate is ``noise_multiplier``-Gaussian DP for adding or removing
one user. One release is one ledger entry (mechanism ``gaussian``, sample
rate 1, one step, ``max_grad_norm`` = the L2 sensitivity), composed with the
site's DP-SGD releases like any other. Noise comes from a secret generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from recmodel.privacy.mechanism_rng import secret_generator

GAUSSIAN = "gaussian"  # ledger mechanism name of a Gaussian-noised release without subsampling
GAUSSIAN_SUMS = "gaussian-sums"  # ledger engine name of the releases this module computes


@dataclass(frozen=True)
class NoisedSums:
    """Released figures: noised per-column sums [K] and a noised user count."""

    sums: dict[str, float]
    count: float
    sensitivity: float  # L2 bound of one user's contribution
    noise_std: float  # per coordinate

    def means(self) -> dict[str, float]:
        """Post-processed ratios sum / count (nan when the noised count is below 1)."""
        return {name: (value / self.count if self.count >= 1 else math.nan) for name, value in self.sums.items()}


def l2_sensitivity(columns: int) -> float:
    """L2 bound of one user's vector: ``columns`` values in [0, 1] plus 1 for the count."""
    return math.sqrt(columns + 1)


def release_noised_sums(per_user: dict[str, np.ndarray], *, noise_multiplier: float,
                        generator: torch.Generator | None = None) -> NoisedSums:
    """Sum each named column of per-user values ([U] arrays in [0, 1]) and the count, then add Gaussian noise.

    Values outside [0, 1] are clipped into it, so the sensitivity holds whatever the caller passes.
    """
    if not noise_multiplier > 0:
        raise ValueError(f"noise_multiplier must be > 0 (got {noise_multiplier})")
    names = sorted(per_user)
    users = {len(per_user[name]) for name in names}
    if len(users) > 1:
        raise ValueError(f"per-user columns differ in length: {sorted(users)}")
    exact = np.array([np.clip(np.asarray(per_user[name], dtype=np.float64), 0.0, 1.0).sum() for name in names]
                     + [float(users.pop() if users else 0)])
    sensitivity = l2_sensitivity(len(names))
    std = noise_multiplier * sensitivity
    generator = generator if generator is not None else secret_generator()
    noise = torch.normal(0.0, std, size=(len(exact),), generator=generator, dtype=torch.float64).numpy()
    noised = exact + noise
    return NoisedSums({name: float(v) for name, v in zip(names, noised[:-1])}, float(noised[-1]), sensitivity, std)
