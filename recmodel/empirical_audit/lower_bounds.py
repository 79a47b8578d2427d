"""Empirical lower bounds on epsilon from canary membership scores (one training run).

m canaries are each included with probability 1/2 by a secret coin; after the run a membership test gives each
a score (higher: more likely included). The auditor guesses "in" for the ``k_in`` highest scores and "out"
for the ``k_out`` lowest and abstains on the rest; ``v`` of its ``r = k_in + k_out`` guesses are right.

One-run bound (Steinke, Nasr and Jagielski, "Privacy auditing with one (1) training run", NeurIPS 2023,
Theorem 3.2 and its delta term): if the run is (epsilon, delta)-DP with respect to every canary, then

    P[v correct or more] <= P[Binomial(r, q) >= v] + 2 m delta max_{1<=i<=v} P[v-i <= Binomial(r, q) < v] / i

with q = e^eps / (1 + e^eps). The lower bound is the largest epsilon that this p-value rejects at the
confidence asked; it holds for the run's actual dependence between canaries (one run, not m runs).

The guess counts are fixed in advance (``GUESS_FRACTIONS`` of m, "in" only and "in" plus "out"), and the
confidence is split over all of them (Bonferroni), so picking the best count after seeing the scores keeps the
stated confidence.

Classical two-run estimate (Jagielski, Ullman and Oprea 2020): at the same guesses, Clopper-Pearson bounds on
the true- and false-positive rates give epsilon >= log((TPR_low - delta) / FPR_high). It treats every canary as
an independent pair of runs, which one run with m canaries is not, so it is reported beside the one-run bound
and never decides an audit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from scipy.special import expit

GUESS_FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)  # k / m for each guess count tried
EPSILON_SEARCH_MAX = 50.0


def one_run_p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """P[at least ``v`` of ``r`` guesses right] under (epsilon, delta)-DP, m canaries (the bound above)."""
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got v={v}, r={r}, m={m}")
    q = float(expit(epsilon))
    tail = float(stats.binom.sf(v - 1, r, q))
    if delta <= 0 or v == 0:
        return min(1.0, tail)
    below = np.cumsum(stats.binom.pmf(np.arange(v - 1, -1, -1), r, q))  # P[v-i <= B < v] for i = 1..v
    alpha = float(np.max(below / np.arange(1, v + 1)))
    return min(1.0, tail + 2 * m * delta * alpha)


def one_run_lower_bound(m: int, r: int, v: int, delta: float, significance: float) -> float:
    """The largest epsilon whose p-value for (m, r, v) is below ``significance`` (0 when none is)."""
    if r == 0 or one_run_p_value(m, r, v, 0.0, delta) >= significance:
        return 0.0
    low, high = 0.0, EPSILON_SEARCH_MAX
    if one_run_p_value(m, r, v, high, delta) < significance:
        return high
    for _ in range(60):  # bisection: p_value(low) < significance <= p_value(high)
        middle = (low + high) / 2
        if one_run_p_value(m, r, v, middle, delta) < significance:
            low = middle
        else:
            high = middle
    return low


def classical_lower_bound(true_positives: int, included: int, false_positives: int, excluded: int, delta: float,
                          significance: float) -> float:
    """log((TPR_low - delta) / FPR_high) with two-sided Clopper-Pearson bounds (each at significance / 2)."""
    if included == 0 or excluded == 0:
        return 0.0
    tpr_low = stats.beta.ppf(significance / 2, true_positives, included - true_positives + 1) \
        if true_positives > 0 else 0.0
    fpr_high = stats.beta.ppf(1 - significance / 2, false_positives + 1, excluded - false_positives) \
        if false_positives < excluded else 1.0
    if tpr_low - delta <= 0 or fpr_high <= 0:
        return 0.0
    return max(0.0, math.log((tpr_low - delta) / fpr_high))


@dataclass(frozen=True)
class Guesses:
    """One fixed guess count's outcome."""

    guess_in: int  # highest scores guessed "in"
    guess_out: int  # lowest scores guessed "out"
    correct: int
    one_run_epsilon: float
    classical_epsilon: float


@dataclass(frozen=True)
class EmpiricalEpsilon:
    """The audit's figures for one set of canaries and one view."""

    canaries: int
    included: int
    delta: float
    confidence: float
    one_run_epsilon: float  # the lower bound (max over the guess counts; Bonferroni-corrected)
    classical_epsilon: float  # the two-run estimate at the same guesses (independence assumed; not a verdict)
    best: Guesses | None
    auc: float  # area under the membership test's ROC curve (0.5: no signal)

    def to_dict(self) -> dict:
        return asdict(self)


def guess_counts(m: int) -> list[tuple[int, int]]:
    """(k_in, k_out) pairs tried, fixed by m alone: k = fraction x m, "in" only and "in" plus "out"."""
    pairs = []
    for fraction in GUESS_FRACTIONS:
        k = max(1, int(round(fraction * m)))
        for pair in ((k, 0), (k, k)):
            if sum(pair) <= m and pair not in pairs:
                pairs.append(pair)
    return pairs


def empirical_epsilon(scores: np.ndarray, included: np.ndarray, *, delta: float,
                      confidence: float = 0.95) -> EmpiricalEpsilon:
    """Lower bounds on epsilon from canary ``scores`` [m] (float, higher: more likely in) and coins
    ``included`` [m] (bool), at ``confidence`` over every guess count tried."""
    scores = np.asarray(scores, dtype=np.float64)
    included = np.asarray(included, dtype=bool)
    if scores.shape != included.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and coins {included.shape} must be two vectors of one length")
    if not np.isfinite(scores).all():
        raise ValueError("canary scores must be finite")
    m = len(scores)
    pairs = guess_counts(m)
    significance = (1 - confidence) / max(1, len(pairs))
    order = np.argsort(-scores, kind="stable")  # highest first
    outcomes = []
    for k_in, k_out in pairs:
        hits = int(included[order[:k_in]].sum())
        right = hits + (int((~included[order[m - k_out:]]).sum()) if k_out else 0)
        outcomes.append(Guesses(k_in, k_out, right, one_run_lower_bound(m, k_in + k_out, right, delta, significance),
                                classical_lower_bound(hits, int(included.sum()), k_in - hits, int((~included).sum()),
                                                      delta, significance)))
    best = max(outcomes, key=lambda g: g.one_run_epsilon, default=None)
    return EmpiricalEpsilon(canaries=m, included=int(included.sum()), delta=delta, confidence=confidence,
                            one_run_epsilon=best.one_run_epsilon if best else 0.0,
                            classical_epsilon=max((g.classical_epsilon for g in outcomes), default=0.0),
                            best=best, auc=roc_auc(scores, included))


def roc_curve(scores: np.ndarray, included: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates), each [m + 1], thresholds from the highest score down."""
    scores, included = np.asarray(scores, dtype=np.float64), np.asarray(included, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    hits = np.concatenate(([0], np.cumsum(included[order])))
    misses = np.concatenate(([0], np.cumsum(~included[order])))
    return misses / max(1, (~included).sum()), hits / max(1, included.sum())


def roc_auc(scores: np.ndarray, included: np.ndarray) -> float:
    """P[an included canary scores above an excluded one] (ties count half): the ROC curve's area."""
    scores, included = np.asarray(scores, dtype=np.float64), np.asarray(included, dtype=bool)
    if included.all() or not included.any():
        return 0.5
    ranks = stats.rankdata(scores)
    n_in, n_out = included.sum(), (~included).sum()
    return float((ranks[included].sum() - n_in * (n_in + 1) / 2) / (n_in * n_out))
