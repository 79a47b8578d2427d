"""The pre-flight noise-to-signal ratio and its console line."""

import pytest

from recmodel.privacy.budget import PlannedRelease
from recmodel.privacy.preflight import NOISE_TO_SIGNAL_WARNING, noise_to_signal, preflight_line


def test_ratio_is_noise_multiplier_over_the_expected_batch():
    assert noise_to_signal(PlannedRelease(1.5, 0.2, 10), 122) == pytest.approx(1.5 / 24.4)
    assert noise_to_signal(PlannedRelease(0.886, 0.05, 40), 5000) == pytest.approx(0.003544)
    assert noise_to_signal(PlannedRelease(1.0, 0.2, 10), 0) == float("inf")


def test_a_noisy_partner_is_warned_with_what_would_change_it():
    quiet = preflight_line("big", examples=5000, noise_multiplier=0.886, sample_rate=0.05, ratio=0.0035)
    assert quiet == ("pre-flight: partner 'big': 5000 users, expected batch 250.0, noise multiplier 0.886: "
                     "noise/signal 0.0035 per step")
    loud = preflight_line("small", examples=122, noise_multiplier=1.5, sample_rate=0.2, ratio=0.0615)
    assert f"WARNING: above {NOISE_TO_SIGNAL_WARNING}" in loud
    assert "batch-size" in loud and "fewer rounds" in loud and "target-epsilon" in loud


def test_a_noisier_site_steps_shorter_in_proportion_and_a_quiet_one_keeps_its_rate():
    from recmodel.privacy.preflight import noise_scaled_learning_rate
    assert noise_scaled_learning_rate(0.01, 0.0035) == 0.01  # the synthetic default: below the threshold
    assert noise_scaled_learning_rate(0.01, NOISE_TO_SIGNAL_WARNING) == 0.01
    assert noise_scaled_learning_rate(0.01, 4 * NOISE_TO_SIGNAL_WARNING) == pytest.approx(0.0025)
