"""Noised sums: per segment at the sensitivity of one user's vector, pooled by post-processing."""

import numpy as np
import pytest

from recmodel.privacy.noised_release import pooled, release_noised_segment_sums


def test_segment_sums_noise_each_segment_alike_at_the_sensitivity_of_one_segment():
    per_user = {"a": np.array([1.0, 0.0, 1.0, 1.0]), "b": np.array([0.5, 0.5, 0.5, 2.0])}  # 2.0 is clipped to 1
    parts = release_noised_segment_sums(per_user, np.array([0, 0, 2, 2]), 3, noise_multiplier=1e-9)
    assert [round(p.count) for p in parts] == [2, 0, 2]
    assert parts[2].sums["a"] == pytest.approx(2.0) and parts[2].sums["b"] == pytest.approx(1.5)
    assert {p.sensitivity for p in parts} == {np.sqrt(3)}
    assert pooled(parts).count == pytest.approx(4.0) and pooled(parts).noise_std == pytest.approx(1e-9 * 3)
    with pytest.raises(ValueError, match="segment labels"):
        release_noised_segment_sums(per_user, np.array([0, 0, 3, 3]), 3, noise_multiplier=1.0)
