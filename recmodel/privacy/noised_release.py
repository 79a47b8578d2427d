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
    lengths = {len(values) for values in per_user.values()}
    if len(lengths) > 1:
        raise ValueError(f"per-user columns differ in length: {sorted(lengths)}")
    segments = np.zeros(lengths.pop() if lengths else 0, dtype=np.int64)
    return release_noised_segment_sums(per_user, segments, 1, noise_multiplier=noise_multiplier,
                                       generator=generator)[0]


def release_noised_segment_sums(per_user: dict[str, np.ndarray], segments: np.ndarray, segment_count: int, *,
                                noise_multiplier: float, generator: torch.Generator | None = None) -> list[NoisedSums]:
    """Per segment (``segments`` [U] in 0..segment_count-1): the noised sums and count of its users' columns.

    A user sits in exactly one segment, so adding or removing one changes one segment's block only: the L2
    sensitivity of all blocks together stays ``sqrt(K + 1)`` and the release is one ``noise_multiplier``-Gaussian
    mechanism, whatever the number of segments (each block gets the same noise std). Values are clipped into
    [0, 1]; segment labels are public constants, never read from the data.
    """
    if not noise_multiplier > 0:
        raise ValueError(f"noise_multiplier must be > 0 (got {noise_multiplier})")
    names = sorted(per_user)
    segments = np.asarray(segments, dtype=np.int64)
    if any(len(per_user[name]) != len(segments) for name in names):
        raise ValueError(f"per-user columns differ in length from the {len(segments)} segment labels")
    if len(segments) and not (0 <= segments.min() and segments.max() < segment_count):
        raise ValueError(f"segment labels must lie in 0..{segment_count - 1}")
    values = np.stack([np.clip(np.asarray(per_user[name], dtype=np.float64), 0.0, 1.0) for name in names]
                      + [np.ones(len(segments))], axis=1) if names else np.ones((len(segments), 1))
    exact = np.zeros((segment_count, values.shape[1]))
    np.add.at(exact, segments, values)
    sensitivity = l2_sensitivity(len(names))
    std = noise_multiplier * sensitivity
    generator = generator if generator is not None else secret_generator()
    noised = exact + torch.normal(0.0, std, size=exact.shape, generator=generator, dtype=torch.float64).numpy()
    return [NoisedSums({name: float(v) for name, v in zip(names, row[:-1])}, float(row[-1]), sensitivity, std)
            for row in noised]


def pooled(parts: list[NoisedSums]) -> NoisedSums:
    """The sum of independent releases (post-processing): sums and counts add, noise stds add in quadrature."""
    names = sorted(parts[0].sums) if parts else []
    return NoisedSums({name: sum(part.sums[name] for part in parts) for name in names},
                      sum(part.count for part in parts), max((part.sensitivity for part in parts), default=0.0),
                      math.sqrt(sum(part.noise_std ** 2 for part in parts)))
