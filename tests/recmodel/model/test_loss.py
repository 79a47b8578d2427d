"""The DLRM's losses, per user (one user = one clipped example under DP)."""

import math

import pytest
import torch

from recmodel.model.loss import PerUserBCELoss, PerUserSampledSoftmaxLoss, recommendation_criterion


def test_sampled_softmax_matches_the_formula_and_ignores_masked_candidates():
    logits = torch.tensor([[2.0, 0.0, 1.0, -1.0], [0.5, 3.0, 0.0, 0.0]])
    labels = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])  # user 0's last negative is masked out
    per_user = PerUserSampledSoftmaxLoss(reduction="none")(logits, labels, mask)
    e = math.exp
    first = (-math.log(e(2) / (e(2) + e(1))) - math.log(e(0) / (e(0) + e(1)))) / 2  # each positive vs negatives only
    second = -math.log(e(0.5) / (e(0.5) + e(3) + 2 * e(0)))
    torch.testing.assert_close(per_user, torch.tensor([first, second]), atol=1e-6, rtol=0)


def test_sampled_softmax_gradient_never_reaches_masked_slots():
    logits = torch.zeros(1, 4, requires_grad=True)
    labels = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 0.0, 1.0, 1.0]])  # the second positive slot is unfilled
    PerUserSampledSoftmaxLoss()(logits, labels, mask).backward()
    assert logits.grad[0, 1] == 0
    assert logits.grad[0, 0] < 0 < logits.grad[0, 2]


def test_criterion_by_name():
    assert isinstance(recommendation_criterion("softmax"), PerUserSampledSoftmaxLoss)
    assert isinstance(recommendation_criterion("bce"), PerUserBCELoss)
    with pytest.raises(ValueError, match="loss = 'hinge' is unknown; allowed: softmax, bce"):
        recommendation_criterion("hinge")
