"""DP-SGD for embedding-heavy models: one backward pass, clipping from looked-up rows, deferred noise.

The mechanism is standard DP-SGD, as Opacus runs it: each step samples users
by Poisson sampling with rate q (Opacus's ``UniformWithReplacementSampler``,
driven by the site's secret generator), clips each user's gradient to L2 norm
C (factor min(1, C / (norm + 1e-6)), Opacus's formula), adds N(0, (sigma C)^2)
to every coordinate of the clipped sum and divides by the expected batch
E[B] = int(q x examples); an empty batch releases noise alone. Opacus's
accountant counts every step, so the ledger's history is the one Opacus would
write. What differs is the cost:

- per-user norms and clipped sums come from ``PerUserGradientTape`` (one
  backward pass, embedding rows grouped by a sort of 1-D keys);
- tables in ``sparse_tables`` (the large item tables) train with plain SGD
  and ``DeferredNoise``: their noise is drawn when a row is next read or
  before release, so a step costs the rows it touches, not the table. The
  released values have exactly the distribution of per-step dense noise;
- all other parameters take the noised gradient through the chosen local
  optimizer (Adam or SGD with momentum), as before.
"""

from __future__ import annotations

import copy

import torch
from opacus.accountants import PRVAccountant
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from torch import nn
from torch.utils.data import Dataset, default_collate

from recmodel.training.deferred_noise import DeferredNoise
from recmodel.training.per_user_gradients import PerUserGradientTape, SparseGradient


def fetch(dataset: Dataset, indices: list[int]):
    """The examples ``indices`` as one collated tuple of tensors (sliced directly from a ``TensorDataset``)."""
    if hasattr(dataset, "tensors"):
        index = torch.as_tensor(indices, dtype=torch.long)
        return tuple(t[index] for t in dataset.tensors)
    return default_collate([dataset[i] for i in indices])


class EmbeddingAwareDPSGD:
    """Trains ``model`` in place by DP-SGD; ``sparse_tables`` train with plain SGD at ``sparse_learning_rate``.

    ``optimizer``: a torch optimizer over every other trainable parameter.
    Call ``step(batch)`` per sampled batch (``None`` for an empty one) and
    ``finish()`` before the model is read or released.
    """

    def __init__(self, model: nn.Module, *, optimizer: torch.optim.Optimizer, criterion: nn.Module, compute_loss,
                 noise_multiplier: float, max_grad_norm: float, expected_batch_size: int,
                 generator: torch.Generator, sparse_tables: tuple[nn.Embedding, ...] = (),
                 sparse_learning_rate: float = 0.0) -> None:
        self.model = model
        self.optimizer = optimizer
        self.criterion = copy.deepcopy(criterion)
        self.criterion.reduction = "sum"  # per-user losses summed: each user's gradient reaches the tape whole
        self.compute_loss = compute_loss
        self.noise_std = noise_multiplier * max_grad_norm  # on the clipped sum
        self.max_grad_norm = max_grad_norm
        self.expected_batch_size = max(1, expected_batch_size)
        self.generator = generator
        self.tape = PerUserGradientTape(model, sparse_tables=sparse_tables)
        self.sparse_learning_rate = sparse_learning_rate
        self.deferred = {t.weight: DeferredNoise(t, std_per_step=sparse_learning_rate * self.noise_std
                                                 / self.expected_batch_size, generator=generator)
                         for t in sparse_tables}
        self._hooks = [d.settle_before_reads() for d in self.deferred.values()]
        self.dense_params = [p for p in self.tape.parameters if p not in self.deferred]
        self.non_finite_users = 0  # sampled users whose gradient held NaN/Inf: they contributed zero

    def step(self, tensors) -> float:
        """One DP-SGD step on a sampled batch (``None``: empty); returns the batch's mean loss (nan if empty).

        A user whose gradient norm is not finite (a NaN or Inf anywhere in its gradient, as weights crafted to
        overflow for one user's features would make it) contributes zero to the clipped sum and is counted in
        ``non_finite_users``: whatever the received weights, the release is the noised sum of per-user
        contributions of norm at most C, so no user can make it non-finite.
        """
        mean_loss = float("nan")
        sums: dict = {}
        if tensors is not None:
            with self.tape.recording():
                loss = self.compute_loss(self.model, self.criterion, [t.contiguous() for t in tensors])
                loss.backward()
            norms = self.tape.squared_norms().sqrt()  # [B]
            finite = torch.isfinite(norms)
            factors = torch.where(finite, (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0), 0.0)
            sums = self.tape.clipped_sums(factors)
            self.non_finite_users += int((~finite).sum())
            mean_loss = float(loss.detach()) / len(norms)
        for p in self.dense_params:
            clipped = sums.get(p)
            noise = torch.randn(p.shape, generator=self.generator, device=p.device, dtype=p.dtype) * self.noise_std
            p.grad = (noise if clipped is None else clipped + noise) / self.expected_batch_size
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for weight, deferred in self.deferred.items():
                clipped = sums.get(weight)
                if clipped is not None:
                    assert isinstance(clipped, SparseGradient)
                    weight.index_add_(0, clipped.rows, clipped.values,
                                      alpha=-self.sparse_learning_rate / self.expected_batch_size)
                deferred.advance()
        return mean_loss

    def finish(self) -> None:
        """Apply all deferred noise and remove the hooks: the model is plain again."""
        for deferred in self.deferred.values():
            deferred.settle_all()
        for h in self._hooks:
            h.remove()
        self._hooks = []


def train_dp_embedding_aware(model: nn.Module, examples: Dataset, *, epochs: int, steps_per_epoch: int,
                             planned_examples: int | None = None, optimizer: torch.optim.Optimizer,
                             criterion: nn.Module, compute_loss,
                             noise_multiplier: float, max_grad_norm: float, sampling: torch.Generator,
                             noise: torch.Generator, device: torch.device = torch.device("cpu"),
                             sparse_tables: tuple[nn.Embedding, ...] = (), sparse_learning_rate: float = 0.0,
                             after_step=None):
    """``epochs`` x ``steps_per_epoch`` Poisson-sampled steps at rate q = 1 / ``steps_per_epoch`` (Opacus's rate).

    The sampler is told the step count: left to itself it takes int(1 / q) steps, and 1 / (1 / 93) is
    92.99999999999999 in floating point, so it would run one step fewer than the plan the ledger records.
    ``planned_examples`` (default ``len(examples)``): the count the plan assumes; the clipped sum is divided by
    its expected batch int(q x planned_examples), a public figure, never by one derived from the exact count.

    Returns (steps, loss sum over non-empty steps, accountant history, users left out for a non-finite
    gradient). ``sampling`` (a CPU generator) draws the Poisson masks, ``noise`` (on ``device``, where ``model``
    is) the Gaussian noise; both secret at a site. ``after_step()``, if given, runs after every step (FedProx's
    pull).
    """
    sample_rate = 1.0 / steps_per_epoch
    trainer = EmbeddingAwareDPSGD(model, optimizer=optimizer, criterion=criterion, compute_loss=compute_loss,
                                  noise_multiplier=noise_multiplier, max_grad_norm=max_grad_norm,
                                  expected_batch_size=int((planned_examples or len(examples)) * sample_rate),
                                  generator=noise,
                                  sparse_tables=sparse_tables, sparse_learning_rate=sparse_learning_rate)
    accountant = PRVAccountant()
    sampler = UniformWithReplacementSampler(num_samples=len(examples), sample_rate=sample_rate, generator=sampling,
                                           steps=steps_per_epoch)
    steps, loss_sum = 0, 0.0
    try:
        for _ in range(epochs):
            for indices in sampler:
                batch = [t.to(device) for t in fetch(examples, indices)] if len(indices) else None
                loss = trainer.step(batch)
                accountant.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate)
                loss_sum += 0.0 if loss != loss else loss
                steps += 1
                if after_step is not None:
                    after_step()
    finally:
        trainer.finish()
    return steps, loss_sum, list(accountant.history), trainer.non_finite_users
