"""Item counts as a DP release: one user is one unit vector over item rows; noise of the planned std."""

import numpy as np
import pytest
import torch

from recmodel.privacy.item_counts import item_count_sums, prior_from_counts, release_item_counts


def test_each_user_adds_a_unit_vector_over_the_rows_of_its_recent_items(tiny_data):
    users = tiny_data.site_users(0)
    catalogue = tiny_data.catalogue
    total = item_count_sums(catalogue, users, recent=0)
    assert total.shape == (catalogue.item_buckets,) and total[0] == 0
    one = item_count_sums(catalogue, users.subset(np.array([3])), recent=0)
    assert np.linalg.norm(one) == pytest.approx(1.0)
    assert set(np.flatnonzero(one)) == set(catalogue.item_rows[users.subset(np.array([3])).train_items_of(0)])
    recent = item_count_sums(catalogue, users.subset(np.array([3])), recent=2)
    assert np.linalg.norm(recent) == pytest.approx(1.0) and np.count_nonzero(recent) <= 2
    assert total.sum() == pytest.approx(sum(item_count_sums(catalogue, users.subset(np.array([u])), recent=0).sum()
                                            for u in range(len(users))))


def test_the_release_adds_noise_of_the_planned_std_from_the_given_generator(tiny_data):
    users = tiny_data.site_users(0)
    exact = item_count_sums(tiny_data.catalogue, users, recent=5)
    noised = [release_item_counts(tiny_data.catalogue, users, recent=5, noise_multiplier=3.0,
                                  generator=torch.Generator().manual_seed(seed)) for seed in (1, 1, 2)]
    np.testing.assert_array_equal(noised[0], noised[1])
    assert not np.array_equal(noised[0], noised[2])
    assert np.std(noised[0] - exact) == pytest.approx(3.0, rel=0.25)  # 128 rows
    with pytest.raises(ValueError, match="noise_multiplier must be > 0"):
        release_item_counts(tiny_data.catalogue, users, recent=5, noise_multiplier=0.0)


def test_the_prior_is_log1p_of_the_nonnegative_part():
    np.testing.assert_allclose(prior_from_counts(np.array([-3.0, 0.0, np.e - 1])), [0.0, 0.0, 1.0], rtol=1e-6)
