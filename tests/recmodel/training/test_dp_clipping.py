"""DP-SGD really clips per user: one user's contribution to the summed gradient is <= C."""

import copy
import warnings

import torch
from opacus import PrivacyEngine
from torch.utils.data import DataLoader, TensorDataset

from recmodel.model.batch import RecBatch
from recmodel.model.dlrm import DLRM
from recmodel.model.loss import PerUserBCELoss
from tests.recmodel.model.test_dlrm import SPEC, make_batch

CLIP = 0.05


def _heavy_batch() -> RecBatch:
    """8 users; user 0 repeats one item id in every history slot and candidate (largest gradient)."""
    batch = make_batch(batch_size=8, history=6, candidates=10)
    fields = batch._asdict()
    fields["history_items"][0] = 7
    fields["candidate_items"][0] = 7
    fields["labels"][:, :3] = 1.0
    return RecBatch(**fields)


def _summed_clipped_gradient(model, batch: RecBatch, rows) -> torch.Tensor:
    """Sum over users ``rows`` of their clipped gradients, via Opacus ghost clipping (no noise)."""
    model = copy.deepcopy(model)
    subset = RecBatch(*(t[rows].contiguous() for t in batch))
    loader = DataLoader(TensorDataset(*subset), batch_size=len(rows))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        private, optimizer, criterion, _ = PrivacyEngine().make_private(
            module=model, optimizer=optimizer, criterion=PerUserBCELoss(), data_loader=loader,
            noise_multiplier=0.0, max_grad_norm=CLIP, poisson_sampling=False, grad_sample_mode="ghost",
        )
        optimizer.zero_grad()
        criterion(private(subset), subset.labels, subset.label_mask).backward()
    return torch.cat([p.grad.flatten() for p in private.parameters()])


def _plain_gradient_norm(model, batch: RecBatch, row: int) -> float:
    model = copy.deepcopy(model)
    one = RecBatch(*(t[row : row + 1] for t in batch))
    PerUserBCELoss()(model(one), one.labels, one.label_mask).backward()
    return float(torch.sqrt(sum((p.grad**2).sum() for p in model.parameters())))


def test_each_users_contribution_to_the_summed_gradient_is_bounded_by_max_grad_norm():
    torch.manual_seed(0)
    model = DLRM(SPEC)
    batch = _heavy_batch()
    everyone = list(range(8))
    assert all(_plain_gradient_norm(model, batch, u) > 2 * CLIP for u in everyone)  # clipping is active
    total = _summed_clipped_gradient(model, batch, everyone)
    for user in everyone:
        without = _summed_clipped_gradient(model, batch, [u for u in everyone if u != user])
        contribution = float((total - without).norm())
        assert contribution <= CLIP * (1 + 1e-4), (user, contribution)
        assert contribution >= CLIP * 0.99  # and clipped to the bound, not scaled away


def test_repeated_ids_are_not_under_counted():
    """The heavy user's clipped contribution equals C: norms of repeated ids are summed, not deduplicated."""
    torch.manual_seed(1)
    model = DLRM(SPEC)
    batch = _heavy_batch()
    alone = _summed_clipped_gradient(model, batch, [0])
    assert abs(float(alone.norm()) - CLIP) < 1e-4 * CLIP
