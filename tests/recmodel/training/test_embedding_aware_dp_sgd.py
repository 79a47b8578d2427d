"""Embedding-aware DP-SGD against references: Opacus's stock step, and dense per-step noise."""

import copy
import warnings

import torch
from opacus import PrivacyEngine
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from recmodel.model.batch import RecBatch
from recmodel.model.dlrm import DLRM
from recmodel.model.loss import PerUserBCELoss
from recmodel.training.embedding_aware_dp_sgd import EmbeddingAwareDPSGD
from recmodel.training.local import recommendation_loss
from tests.recmodel.model.test_dlrm import SPEC
from tests.recmodel.training.test_dp_clipping import _heavy_batch

CLIP, LR = 0.05, 0.5


def _opacus_step(model, batch: RecBatch) -> None:
    """One Opacus ghost-clipping SGD step on the whole batch, without noise."""
    loader = DataLoader(TensorDataset(*batch), batch_size=batch.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        private, optimizer, criterion, _ = PrivacyEngine().make_private(
            module=model, optimizer=torch.optim.SGD(model.parameters(), lr=LR), criterion=PerUserBCELoss(),
            data_loader=loader, noise_multiplier=0.0, max_grad_norm=CLIP, poisson_sampling=False,
            grad_sample_mode="ghost")
        optimizer.zero_grad()
        criterion(private(batch), batch.labels, batch.label_mask).backward()
        optimizer.step()
    private._close()


def test_one_noiseless_step_equals_opacus_ghost_clipping_with_and_without_deferred_tables():
    torch.manual_seed(0)
    start = DLRM(SPEC)
    batch = _heavy_batch()
    reference = copy.deepcopy(start)
    _opacus_step(reference, batch)
    for sparse in [(), ("candidate_item", "history_item")]:
        model = copy.deepcopy(start)
        tables = tuple(getattr(model.sparse_arch, name) for name in sparse)
        trainer = EmbeddingAwareDPSGD(
            model, optimizer=torch.optim.SGD(model.parameters(), lr=LR), criterion=PerUserBCELoss(),
            compute_loss=recommendation_loss, noise_multiplier=0.0, max_grad_norm=CLIP,
            expected_batch_size=batch.size, generator=torch.Generator().manual_seed(0), sparse_tables=tables,
            sparse_learning_rate=LR)
        trainer.step((*batch, torch.zeros_like(batch.labels)))  # training examples end with logit offsets
        trainer.finish()
        for (name, got), want in zip(model.named_parameters(), reference.parameters()):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7, msg=f"{sparse}: {name}")
        assert not model.sparse_arch.candidate_item._forward_pre_hooks  # plain module again


def _noise_only_run(seed: int, deferred: bool, steps: int = 4) -> torch.Tensor:
    """A zero 6 x 2 table trained on empty batches (pure noise) by plain SGD; the released table."""
    model = nn.Sequential(nn.Embedding(6, 2))
    nn.init.zeros_(model[0].weight)
    trainer = EmbeddingAwareDPSGD(
        model, optimizer=torch.optim.SGD(model.parameters(), lr=LR), criterion=PerUserBCELoss(),
        compute_loss=None, noise_multiplier=1.3, max_grad_norm=CLIP, expected_batch_size=10,
        generator=torch.Generator().manual_seed(seed), sparse_tables=(model[0],) if deferred else (),
        sparse_learning_rate=LR)
    for _ in range(steps):
        trainer.step(None)
    trainer.finish()
    return model[0].weight.detach().clone()


def test_deferred_noise_releases_the_distribution_of_dense_per_step_noise():
    seeds, steps = 3000, 4
    expected_var = steps * (LR * 1.3 * CLIP / 10) ** 2
    for deferred in (False, True):
        released = torch.stack([_noise_only_run(s, deferred, steps) for s in range(seeds)])  # [seeds, 6, 2]
        torch.testing.assert_close(released.var(0), torch.full((6, 2), expected_var), rtol=0.08, atol=0)
        standardised = released / expected_var**0.5
        assert standardised.mean().abs() < 4 / (seeds * 12) ** 0.5
        kurtosis = (standardised**4).mean()  # 3 for a Gaussian
        assert abs(float(kurtosis) - 3.0) < 0.15, (deferred, kurtosis)
