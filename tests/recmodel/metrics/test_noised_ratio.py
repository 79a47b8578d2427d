"""The std of a ratio of noised sums: the delta-method figure matches the noise it describes."""

import math

import numpy as np
import pytest

from recmodel.metrics.noised_ratio import expected_ratio_std, noised_difference_std, noised_ratio_std, unreadable


@pytest.mark.parametrize("users, ratio, stds", [(10_000, 0.12, [34.6, 34.6]), (610, 0.02, [34.6] * 5),
                                                (2_000, 0.3, [10.0, 5.0, 20.0])])
def test_the_std_matches_the_spread_of_the_noised_ratio(users, ratio, stds):
    rng = np.random.default_rng(0)
    total = math.sqrt(sum(s * s for s in stds))
    draws = (ratio * users + rng.normal(0, total, 200_000)) / (users + rng.normal(0, total, 200_000))
    predicted = noised_ratio_std(stds, users, ratio)
    assert float(np.std(draws)) == pytest.approx(predicted, rel=0.05)


def test_a_figure_within_two_noise_stds_of_zero_is_unreadable():
    std = noised_ratio_std([34.6] * 5, 610, 0.02)  # ml-latest-small, 5 partners, the default evaluation noise
    assert std == pytest.approx(0.127, abs=0.001) and unreadable(0.02, std)
    assert not unreadable(0.12, noised_ratio_std([34.6] * 2, 10_000, 0.12))  # the synthetic default: 0.005
    assert unreadable(0.13, 0.0650) and not unreadable(0.13, 0.0649)
    assert math.isnan(noised_ratio_std([1.0], 0.5, 0.1)) and expected_ratio_std([1.0], 0) == math.inf


def test_the_std_of_a_lift_matches_the_spread_of_two_noised_sums_over_one_noised_count():
    rng = np.random.default_rng(1)
    users, before, after, std = 1_000, 0.10, 0.13, 20.0
    draws = ((after * users + rng.normal(0, std, 200_000)) - (before * users + rng.normal(0, std, 200_000))) / (
        users + rng.normal(0, std, 200_000))
    assert float(np.std(draws)) == pytest.approx(noised_difference_std([std], users, after - before), rel=0.05)
