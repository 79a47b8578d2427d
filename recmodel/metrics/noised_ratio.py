"""The noise of a ratio of Gaussian-noised sums, known from the mechanism (no data needed).

A federated metric is ``(sum_i S_i + e_S) / (sum_i C_i + e_C)``: each site adds independent Gaussian noise
of std ``sigma_i`` to its sum of per-user values ``S_i`` (each in [0, 1]) and to its user count ``C_i``
(``recmodel.private_evaluation``). With ``V = sum_i sigma_i^2`` the noise variance of either total and r the
ratio, the first-order (delta-method) std of the ratio is ``sqrt(V * (1 + r^2)) / C``. It is computed from
the released values and the public noise stds: post-processing, no privacy cost.
"""

from __future__ import annotations

import math


def noised_ratio_std(noise_stds: list[float], count: float, ratio: float) -> float:
    """Std of ``ratio`` (unitless, in [0, 1]) from the sites' noise stds (per noised sum) and the noised total
    ``count`` (users); ``nan`` when the count is below 1 (the figure itself is then not defined)."""
    if count < 1 or math.isnan(ratio):
        return math.nan
    variance = sum(s * s for s in noise_stds)
    return math.sqrt(variance * (1.0 + ratio * ratio)) / count


def noised_difference_std(noise_stds: list[float], count: float, difference: float) -> float:
    """Std of ``(A + e_A - B - e_B) / (C + e_C)``, two noised sums over one noised count (e.g. a personalisation
    lift): ``sqrt(V * (2 + d^2)) / C`` to first order; ``nan`` when the count is below 1."""
    if count < 1 or math.isnan(difference):
        return math.nan
    return math.sqrt(sum(s * s for s in noise_stds) * (2.0 + difference * difference)) / count


def expected_ratio_std(noise_stds: list[float], users: float) -> float:
    """The std a federated figure near 0 will carry when ``users`` users answer (the pre-flight's estimate)."""
    return noised_ratio_std(noise_stds, users, 0.0) if users >= 1 else math.inf


def unreadable(value: float, std: float) -> bool:
    """True when the figure lies within two noise stds of zero: it cannot be told from zero (at about 95%)."""
    return not math.isnan(std) and 2.0 * std >= value
