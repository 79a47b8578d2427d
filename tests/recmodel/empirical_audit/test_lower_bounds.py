"""One-run epsilon lower bounds: sound on a mechanism of known epsilon, tight enough to see a leak."""

import math

import numpy as np
import pytest

from recmodel.empirical_audit.lower_bounds import (classical_lower_bound, empirical_epsilon, guess_counts,
                                                one_run_lower_bound, one_run_p_value, roc_auc, roc_curve)


def _randomized_response(m: int, epsilon: float, seed: int):
    """Coins and scores of an epsilon-DP mechanism: each canary's score is its coin, flipped w.p. 1/(1+e^eps)."""
    rng = np.random.default_rng(seed)
    coins = rng.random(m) < 0.5
    flipped = rng.random(m) < 1 / (1 + math.exp(epsilon))
    return (coins ^ flipped).astype(float) + rng.random(m) * 1e-3, coins


def test_the_p_value_grows_with_epsilon_and_with_delta():
    values = [one_run_p_value(1000, 100, 90, eps, 0.0) for eps in (0.0, 1.0, 2.0, 4.0)]
    assert values == sorted(values) and values[0] < 1e-10 and values[-1] > 0.5
    assert one_run_p_value(1000, 100, 90, 1.0, 1e-5) > one_run_p_value(1000, 100, 90, 1.0, 0.0)


def test_perfect_guesses_bound_epsilon_by_what_m_canaries_can_show():
    # all r = 1000 guesses right: q^1000 = 0.05 at eps = log(q / (1 - q)) with q = 0.05^(1/1000), about 5.8
    q = 0.05 ** (1 / 1000)
    assert one_run_lower_bound(1000, 1000, 1000, 0.0, 0.05) == pytest.approx(math.log(q / (1 - q)), abs=1e-6)
    assert one_run_lower_bound(1000, 100, 50, 0.0, 0.05) == 0.0  # chance level shows nothing


@pytest.mark.parametrize("epsilon", [0.5, 2.0, 4.0])
def test_the_bound_stays_below_the_true_epsilon_of_randomized_response(epsilon):
    bounds = [empirical_epsilon(*_randomized_response(2000, epsilon, seed), delta=0.0).one_run_epsilon
              for seed in range(20)]
    assert sum(b > epsilon for b in bounds) <= 1  # 95% confidence: about 1 in 20 may exceed it, not more
    assert np.median(bounds) > 0.4 * epsilon  # and it is not vacuous


def test_scores_without_signal_show_no_leak():
    rng = np.random.default_rng(0)
    result = empirical_epsilon(rng.normal(size=1000), rng.random(1000) < 0.5, delta=1e-5)
    assert result.one_run_epsilon == 0.0 and abs(result.auc - 0.5) < 0.06


def test_a_clean_separation_is_a_large_bound_and_auc_one():
    coins = np.arange(1000) % 2 == 0
    result = empirical_epsilon(coins.astype(float), coins, delta=1e-5)
    assert result.auc == 1.0 and result.one_run_epsilon > 4.0
    assert result.best.correct == result.best.guess_in + result.best.guess_out
    assert result.classical_epsilon > 0


def test_guess_counts_are_fixed_by_m_and_the_roc_curve_runs_from_0_to_1():
    assert guess_counts(1000)[:2] == [(10, 0), (10, 10)] and (500, 500) in guess_counts(1000)
    fpr, tpr = roc_curve(np.array([3.0, 2.0, 1.0, 0.0]), np.array([True, False, True, False]))
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    assert roc_auc(np.array([3.0, 2.0, 1.0, 0.0]), np.array([True, False, True, False])) == 0.75


def test_the_classical_estimate_needs_a_gap_between_the_rates():
    assert classical_lower_bound(50, 100, 50, 100, 0.0, 0.05) == 0.0
    assert classical_lower_bound(100, 100, 0, 100, 0.0, 0.05) > 2.0


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="one length"):
        empirical_epsilon(np.zeros(3), np.zeros(4, dtype=bool), delta=0.0)
    with pytest.raises(ValueError, match="finite"):
        empirical_epsilon(np.array([np.nan, 1.0]), np.array([True, False]), delta=0.0)
