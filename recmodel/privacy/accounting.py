"""Counting DP events: epsilon of a history, noise calibration.

A history is a list of ``(noise_multiplier, sample_rate, steps)`` tuples, the
format of Opacus accountants. Calibration and reporting use the same
accountant (``prv`` by default; Opacus's ``get_noise_multiplier`` defaults to
RDP while ``PrivacyEngine`` defaults to PRV, a classic mismatch).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Iterable

from opacus.accountants import PRVAccountant, RDPAccountant

import opacus
from recmodel.privacy import calibration_cache

History = list[tuple[float, float, int]]
CALIBRATION_TOLERANCE = 0.01  # calibrated epsilon lies in [target - 0.01, target] (10% of a target below 0.1)
MAX_NOISE_MULTIPLIER = 10_240.0  # calibration gives up above this (after 10 doublings from 10)
MAX_BISECTIONS = 60


def make_accountant(name: str):
    """A fresh Opacus accountant by name (``prv`` or ``rdp``)."""
    if name == "prv":
        return PRVAccountant()
    if name == "rdp":
        return RDPAccountant()
    raise ValueError(f"unknown accountant '{name}'; allowed: prv, rdp")


def accountant_label(name: str) -> str:
    """Name and version as recorded in ledgers, e.g. ``opacus-prv 1.6.0``."""
    return f"opacus-{name} {opacus.__version__}"


def epsilon_of(history: Iterable[tuple[float, float, int]], *, delta: float, accountant: str) -> float:
    """Epsilon at ``delta`` after all events of ``history`` (composed).

    Composition commutes, so steps of identical (noise, rate) are summed first:
    exact, and it keeps the accountant's work constant as a ledger grows.
    """
    steps_by_mechanism: dict[tuple[float, float], int] = {}
    for s, q, n in history:
        if int(n) > 0:
            key = (float(s), float(q))
            steps_by_mechanism[key] = steps_by_mechanism.get(key, 0) + int(n)
    return _epsilon(tuple((s, q, n) for (s, q), n in steps_by_mechanism.items()), float(delta), accountant)


@functools.lru_cache(maxsize=1024)
def _epsilon(history: tuple[tuple[float, float, int], ...], delta: float, accountant: str) -> float:
    """The accountant's epsilon for an aggregated history; a pure function, so remembered (a PRV call takes ~1 s,
    and a round asks the same question in its budget check and in its ledger entry)."""
    if not history:
        return 0.0
    counter = make_accountant(accountant)
    counter.history = list(history)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(counter.get_epsilon(delta=delta))


def calibrate_noise_multiplier(
    *, target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str
) -> float:
    """Smallest noise multiplier (to within the tolerance) whose ``steps`` steps at ``sample_rate`` spend at most ``target_epsilon``."""
    return calibrate_shared_noise_multiplier([(sample_rate, steps)], target_epsilon=target_epsilon, delta=delta,
                                             accountant=accountant)


def calibrate_shared_noise_multiplier(
    releases: list[tuple[float, int]], *, target_epsilon: float, delta: float, accountant: str,
    fixed: History | None = None,
) -> float:
    """One noise multiplier for several planned releases [(sample_rate, steps)] composed.

    ``fixed``: further planned events whose noise is already set (e.g. noised
    evaluations), composed with them. Bisection like Opacus's
    ``get_noise_multiplier``, with bounded iterations: the result spends at
    most ``target_epsilon`` and at least ``target_epsilon - 0.01``. Raises
    ``ValueError`` with the reason when no noise multiplier up to
    ``MAX_NOISE_MULTIPLIER`` reaches the target, or when ``fixed`` alone spends it.
    """
    return _calibrated(tuple((float(q), int(n)) for q, n in releases), float(target_epsilon), float(delta), accountant,
                       tuple((float(s), float(q), int(n)) for s, q, n in (fixed or [])))


@functools.lru_cache(maxsize=256)
def _calibrated(releases: tuple, target_epsilon: float, delta: float, accountant: str, fixed: tuple) -> float:
    """``calibrate_shared_noise_multiplier``, remembered in this process and, verified by one evaluation at the
    remembered multiplier, across processes and runs (``calibration_cache``): sites plan alike, runs repeat.

    A PRV evaluation takes 0.3-9 s (more steps, longer), so the search asks for few: it starts from the
    multiplier RDP calibrates (RDP bounds PRV from above, so that multiplier spends at most the target under PRV,
    and RDP evaluations cost milliseconds), brackets the target between a multiplier that spends more and one that
    spends less, then narrows the bracket by regula falsi with the Illinois modification (bisection when the
    interpolation leaves the bracket). 6-7 PRV evaluations where plain bisection took about 15.
    """
    key = calibration_cache.calibration_key(releases, target_epsilon, delta, accountant, fixed)
    fixed = list(fixed)
    tolerance = min(CALIBRATION_TOLERANCE, 0.1 * target_epsilon)
    floor = epsilon_of(fixed, delta=delta, accountant=accountant)
    if fixed and floor >= target_epsilon - tolerance:
        raise ValueError(f"the fixed-noise releases alone spend epsilon {floor:.4f}, leaving nothing of "
                         f"target-epsilon {target_epsilon:g} for training")
    spend = lambda sigma: epsilon_of(fixed + [(sigma, q, n) for q, n in releases], delta=delta,  # noqa: E731
                                     accountant=accountant)
    known = calibration_cache.remembered(key)  # trusted only if it spends what a fresh search's answer spends
    if known is not None and 0 < known <= MAX_NOISE_MULTIPLIER and \
            target_epsilon - tolerance <= spend(known) <= target_epsilon:
        return known
    noise_multiplier = _search(spend, releases, target_epsilon, delta, accountant, tuple(fixed), tolerance)
    calibration_cache.remember(key, noise_multiplier)
    return noise_multiplier


def _search(spend, releases: tuple, target_epsilon: float, delta: float, accountant: str, fixed: tuple,
            tolerance: float) -> float:
    """The calibration search (``_calibrated``): the smallest multiplier, to within ``tolerance``, whose
    ``spend`` is at most ``target_epsilon``."""
    high, shrink = _search_start(releases, target_epsilon, delta, accountant, fixed)
    eps_high = spend(high)
    low, eps_low = 0.0, math.inf
    while eps_high > target_epsilon:  # too little noise: double until the target is met
        if high >= MAX_NOISE_MULTIPLIER:
            raise ValueError(f"cannot reach target-epsilon {target_epsilon:g} at delta {delta:g}: even noise "
                             f"multiplier {high:g} spends {eps_high:.4f} over the planned steps; plan fewer steps "
                             "or allow a larger epsilon")
        low, eps_low = high, eps_high
        high = min(2 * high, MAX_NOISE_MULTIPLIER)
        eps_high = spend(high)
    while eps_low == math.inf and target_epsilon - eps_high > tolerance:  # a lower end that spends too much
        candidate = high / shrink
        eps_candidate = spend(candidate)
        if eps_candidate > target_epsilon:
            low, eps_low = candidate, eps_candidate
        else:
            high, eps_high = candidate, eps_candidate
    aim = target_epsilon - tolerance / 2  # interpolate towards the middle of the accepted band
    kept = None  # which end the last step kept (Illinois: halve its weight when it is kept twice)
    f_low, f_high = eps_low - aim, eps_high - aim
    for _ in range(MAX_BISECTIONS):
        if target_epsilon - eps_high <= tolerance:
            return high
        mid = (low * f_high - high * f_low) / (f_high - f_low)
        if not low < mid < high:
            mid = (low + high) / 2
        eps_mid = spend(mid)
        if eps_mid <= target_epsilon:
            high, eps_high, f_high = mid, eps_mid, eps_mid - aim
            f_low = f_low / 2 if kept == "low" else f_low
            kept = "low"
        else:
            low, eps_low, f_low = mid, eps_mid, eps_mid - aim
            f_high = f_high / 2 if kept == "high" else f_high
            kept = "high"
    return high  # spends at most the target


def _search_start(releases: tuple, target_epsilon: float, delta: float, accountant: str,
                  fixed: tuple) -> tuple[float, float]:
    """(first multiplier, factor to step down by while looking for a lower end): for PRV the RDP-calibrated
    multiplier, which spends at most the target and lies just above the answer (steps of 1.25); otherwise, or
    where RDP's looser bound cannot place it, 10 (steps of 2)."""
    if accountant == "prv":
        try:
            return _calibrated(releases, target_epsilon, delta, "rdp", fixed), 1.25
        except ValueError:
            pass
    return 10.0, 2.0
