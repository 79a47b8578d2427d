"""Negatives drawn from the item prior, and the sampled-softmax offsets that correct for it."""

import numpy as np
import pytest
import torch

from recmodel.data.negative_sampling import NegativeSampler, negative_sampler
from recmodel.model.loss import PerUserSampledSoftmaxLoss


def test_popularity_sampler_draws_items_in_proportion_to_count_plus_one_to_the_three_quarters():
    counts = np.array([0.0, 9.0, 99.0, 999.0])
    prior = np.log1p(np.concatenate([[0.0], counts]))  # row 0 is padding; item i sits in row i + 1
    sampler = NegativeSampler.from_item_prior(prior, item_rows=np.arange(1, 5))
    expected = (counts + 1) ** 0.75 / ((counts + 1) ** 0.75).sum()
    np.testing.assert_allclose(sampler.probabilities, expected)
    draws = sampler.draw(np.random.default_rng(0), 200_000)
    assert draws.dtype == np.int64 and draws.min() >= 0 and draws.max() <= 3
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), expected, atol=0.004)


def test_noised_negative_counts_are_clipped_and_hashed_items_share_their_rows_weight():
    prior = np.array([0.0, -3.0, np.log1p(15.0)], dtype=np.float32)  # a noised count below zero reads as 0
    sampler = NegativeSampler.from_item_prior(prior, item_rows=np.array([1, 2, 2]))
    weights = np.array([1.0, 16.0 ** 0.75, 16.0 ** 0.75])
    np.testing.assert_allclose(sampler.probabilities, weights / weights.sum(), rtol=1e-6)


def test_without_a_prior_or_with_uniform_every_item_is_equally_likely():
    rows = np.arange(1, 6)
    for sampler in (negative_sampler("popularity", item_prior=None, item_rows=rows),
                    negative_sampler("uniform", item_prior=np.arange(6.0), item_rows=rows)):
        np.testing.assert_allclose(sampler.probabilities, np.full(5, 0.2))
    with pytest.raises(ValueError, match="negative-sampling = 'hard' is unknown"):
        negative_sampler("hard", item_prior=None, item_rows=rows)


def test_corrected_sampled_softmax_estimates_the_full_softmax_loss():
    """E over draws of q of log(exp(s_p) + sum_n exp(s_n - log(K q_n))) tends to the full log-partition."""
    rng = np.random.default_rng(3)
    items = 200
    scores = rng.normal(size=items)
    q = rng.uniform(0.2, 1.0, size=items)
    sampler = NegativeSampler(q)
    positive = 7
    full = -(scores[positive] - np.log(np.exp(np.delete(scores, positive)).sum() + np.exp(scores[positive])))
    k = 20_000
    negatives = sampler.draw(rng, k)
    negatives = negatives[negatives != positive]
    offsets = sampler.logit_offsets(negatives) + np.log(len(negatives)) - np.log(k)  # K counts every draw
    logits = torch.tensor(np.concatenate([[scores[positive]], scores[negatives] + offsets]), dtype=torch.float32)
    labels = torch.zeros(1, len(logits))
    labels[0, 0] = 1.0
    loss = PerUserSampledSoftmaxLoss()(logits[None], labels, torch.ones_like(labels))
    assert float(loss) == pytest.approx(full, abs=0.05)
    uncorrected = PerUserSampledSoftmaxLoss()(torch.tensor(np.concatenate([[scores[positive]], scores[negatives]]),
                                                           dtype=torch.float32)[None], labels, torch.ones_like(labels))
    assert abs(float(uncorrected) - full) > 0.5  # without the offsets it estimates another quantity


def test_a_sampler_refuses_items_it_could_never_draw():
    with pytest.raises(ValueError, match="positive probability for every catalogue item"):
        NegativeSampler(np.array([1.0, 0.0]))
