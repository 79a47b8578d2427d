"""One partner's local training of a DLRM: DP-SGD or plain.

DP-SGD: Poisson sampling of examples (users), per-example clipping to
``max_grad_norm``, Gaussian noise of std ``noise_multiplier * max_grad_norm``
on the summed gradient; the optimizer (SGD or Adam) then steps on that noised
gradient, which is post-processing of the released sum. Two implementations
of that one mechanism: ``embedding-aware`` (default; ``embedding_aware_dp_sgd``:
one backward pass, large item tables on plain SGD with deferred noise) and
``opacus`` (Opacus's own ``PrivacyEngine`` with ghost clipping: the reference, and the engine of a site
whose policy sets ``dp-engine = "opacus"``; it has no per-user guard against non-finite gradients, so such a
site relies on the received-weight checks of ``recmodel.privacy.received_message``).
The Poisson masks and the noise come from a generator seeded at the site
from the OS's secure source (``recmodel.privacy.mechanism_rng``), never from
the run config's seed. An empty Poisson batch still takes a noise-only step,
so every step the accountant counts really released noise. FedProx's proximal term is
applied after each step as a data-independent pull toward the global weights
(post-processing: no privacy cost).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from opacus import PrivacyEngine
from opacus.data_loader import DPDataLoader
from torch.utils.data import DataLoader, Dataset

from recmodel.data.examples import training_batch
from recmodel.device import on_device, resolve_device
from recmodel.model.loss import PerUserBCELoss
from recmodel.privacy.mechanism_rng import secret_generator
from recmodel.training.embedding_aware_dp_sgd import train_dp_embedding_aware


def recommendation_loss(model, criterion, tensors):
    """DLRM examples (``TrainingExamples`` tensors) -> per-user loss (a DP loss under Opacus).

    The logits get the examples' sampled-softmax offsets (``recmodel.data.negative_sampling``).
    """
    batch, offsets = training_batch(tensors)
    return criterion(model(batch) + offsets, batch.labels, batch.label_mask)


@dataclass(frozen=True)
class DPSettings:
    noise_multiplier: float
    max_grad_norm: float


@dataclass(frozen=True)
class TrainReport:
    """What happened: steps taken, examples, mean loss, and for DP the Opacus history."""

    steps: int
    examples: int
    mean_loss: float
    sample_rate: float
    history: list  # Opacus accountant history [(noise_multiplier, sample_rate, steps)]
    non_finite_users: int = 0  # DP (embedding-aware): sampled users left out of a step for a NaN/Inf gradient


MIN_STEPS_PER_EPOCH = 4
DP_IMPLEMENTATIONS = ("embedding-aware", "opacus")


def steps_per_epoch(examples: int, batch_size: int) -> int:
    """Opacus sets sample_rate = 1 / len(loader); an epoch is len(loader) steps."""
    return -(-examples // batch_size)


def local_batch_size(batch_size: int, examples: int) -> int:
    """The expected batch a site trains with: ``batch-size``, but small enough for 4 steps per epoch.

    A partner with fewer than 4 x ``batch-size`` examples would otherwise take
    one or two steps per epoch (and, under DP, sample nearly all its users
    each step: no amplification). Both the training loop and the privacy
    plan use this, so the accountant counts the steps really taken.
    """
    return max(1, min(batch_size, examples // MIN_STEPS_PER_EPOCH))


def train_locally(
    model: torch.nn.Module,
    examples: Dataset,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    dp: DPSettings | None,
    proximal_mu: float = 0.0,
    momentum: float = 0.0,
    criterion: torch.nn.Module | None = None,
    compute_loss=recommendation_loss,
    max_grad_norm: float | None = None,
    optimizer: str = "sgd",
    dp_implementation: str = "embedding-aware",
    sparse_table_rows: int = 0,
    sparse_learning_rate: float = 0.0,
    device: str | torch.device = "cpu",
    planned_examples: int | None = None,
) -> TrainReport:
    """Train ``model`` in place; returns a ``TrainReport``.

    ``max_grad_norm`` (non-DP only; DP clips per example with ``dp.max_grad_norm``):
    clip each batch's mean gradient to this L2 norm, so that a step is never
    longer than a DP step at the same learning rate and the same learning
    rate serves both. ``optimizer``: ``"sgd"`` (with ``momentum``) or ``"adam"``
    (``momentum`` unused), fresh at every call. ``sparse_table_rows`` (DP,
    embedding-aware only; 0 = none): embedding tables with at least this many
    rows train with plain SGD at ``sparse_learning_rate`` and deferred noise
    (not with FedProx, whose pull moves every row every step).
    ``device``: where the steps run (``recmodel.device``); the model's
    weights are back on the CPU when this returns.
    ``planned_examples`` (DP, embedding-aware): the example count the DP plan assumes, a site's declared
    population; the Poisson rate, the steps and the expected batch follow from it, not from ``len(examples)``,
    which therefore never shapes a release (None: ``len(examples)``).
    ``criterion`` (default ``PerUserBCELoss``) must reduce per example when its
    ``reduction`` is ``"none"``; ``compute_loss(model, criterion, tensors)``
    turns one collated batch of ``examples`` into the loss.
    """
    if len(examples) == 0:
        raise ValueError("no training examples: the partition holds no user with train interactions")
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    if dp is not None and dp_implementation not in DP_IMPLEMENTATIONS:
        raise ValueError(f"dp_implementation = {dp_implementation!r} is unknown; "
                         f"allowed: {', '.join(DP_IMPLEMENTATIONS)}")
    planned = len(examples) if planned_examples is None else int(planned_examples)
    device = resolve_device(device)
    with on_device(model, device):
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]  # frozen layers (personalisation) stay put
        pull = None
        if proximal_mu > 0:  # FedProx: pull toward the global weights (a copy of every trainable parameter)
            anchor = [p.detach().clone() for p in trainable]
            pull = lambda: _proximal_pull(trainable, anchor, learning_rate * proximal_mu)  # noqa: E731
        optimizer = local_optimizer(optimizer, trainable, learning_rate, momentum)
        criterion = criterion if criterion is not None else PerUserBCELoss()
        if dp is None or dp_implementation == "opacus":
            return _train_with_loader(model, examples, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                                      criterion=criterion, compute_loss=compute_loss, dp=dp,
                                      max_grad_norm=max_grad_norm, after_step=pull, device=device, planned=planned)
        sparse = () if proximal_mu > 0 else large_tables(model, sparse_table_rows)
        steps, loss_sum, history, non_finite = train_dp_embedding_aware(
            model, examples, epochs=epochs, steps_per_epoch=steps_per_epoch(planned, batch_size),
            planned_examples=planned,
            optimizer=optimizer, criterion=criterion,
            compute_loss=compute_loss, noise_multiplier=dp.noise_multiplier, max_grad_norm=dp.max_grad_norm,
            sampling=secret_generator(), noise=secret_generator(device), device=device, sparse_tables=sparse,
            sparse_learning_rate=sparse_learning_rate, after_step=pull)
        return TrainReport(steps, planned, loss_sum / max(steps, 1), history[0][1], history, non_finite)


def _train_with_loader(model, examples, *, epochs, batch_size, optimizer, criterion, compute_loss, dp,
                       max_grad_norm, after_step, device, planned: int) -> TrainReport:
    """Plain training (each batch's mean gradient clipped to ``max_grad_norm``) or Opacus's stock ghost DP-SGD.

    Under DP the plan's schedule is Opacus's own: its ``DPDataLoader`` samples at rate q = 1 / steps per epoch
    of the ``planned`` examples, told the step count (recmodel.training.embedding_aware_dp_sgd explains why),
    and its optimizer divides by the plan's expected batch int(q x planned), not one from the exact count.
    """
    engine = None
    if dp is None:
        loader = DataLoader(examples, batch_size=batch_size, shuffle=True)
    else:
        per_epoch = steps_per_epoch(planned, batch_size)
        # Poisson masks (the loader's sampler, on the CPU) and Gaussian noise (where the gradients are)
        loader = DPDataLoader(examples, sample_rate=1.0 / per_epoch, generator=secret_generator())
        loader.batch_sampler.steps = per_epoch
        engine = _privacy_engine()
        model, optimizer, criterion, loader = engine.make_private(
            module=model,
            optimizer=optimizer,
            criterion=criterion,
            data_loader=loader,
            noise_multiplier=dp.noise_multiplier,
            max_grad_norm=dp.max_grad_norm,
            poisson_sampling=False,  # the loader above already samples as planned
            grad_sample_mode="ghost",
            noise_generator=secret_generator(device),
        )
        optimizer.expected_batch_size = max(1, int(planned * (1.0 / per_epoch)))
    params = [p for p in model.parameters() if p.requires_grad]
    steps, loss_sum = 0, 0.0
    for _ in range(epochs):
        for tensors in loader:
            optimizer.zero_grad()
            if tensors[0].shape[0] == 0:
                _noise_only_step(optimizer, params)
            else:
                loss = compute_loss(model, criterion, [t.to(device).contiguous() for t in tensors])
                loss.backward()
                if engine is None and max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
                optimizer.step()
                loss_sum += float(loss.item())
            steps += 1
            if after_step is not None:
                after_step()
    if engine is not None:
        model._close()  # remove Opacus hooks: the caller's module is plain again
    history = list(engine.accountant.history) if engine is not None else []
    sample_rate = history[0][1] if history else min(1.0, batch_size / len(examples))
    return TrainReport(steps, planned if engine is not None else len(examples), loss_sum / max(steps, 1),
                       sample_rate, history)


def large_tables(model: torch.nn.Module, min_rows: int) -> tuple[torch.nn.Embedding, ...]:
    """The trainable embedding tables with at least ``min_rows`` rows (none when ``min_rows`` is 0)."""
    if min_rows <= 0:
        return ()
    return tuple(m for m in model.modules() if isinstance(m, torch.nn.Embedding)
                 and m.weight.requires_grad and m.num_embeddings >= min_rows)


def local_optimizer(name: str, params: list, learning_rate: float, momentum: float) -> torch.optim.Optimizer:
    """A fresh ``sgd`` (with ``momentum``) or ``adam`` (torch defaults: betas 0.9, 0.999) optimizer."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=learning_rate, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=learning_rate)
    raise ValueError(f"optimizer = {name!r} is unknown; allowed: sgd, adam")


def _privacy_engine() -> PrivacyEngine:
    """Opacus engine without ``secure_mode`` (its backend, torchcsprng, is unmaintained).

    Its "Secure RNG turned off" warning does not apply here: the loader's
    sampler and the optimizer's noise use ``secret_generator()`` instead of
    torch's global, seedable generator.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        return PrivacyEngine(accountant="prv")


def _noise_only_step(optimizer, params) -> None:
    """Empty Poisson batch: zero gradient, so the DP optimizer releases pure noise."""
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()


@torch.no_grad()
def _proximal_pull(params, anchor, strength: float) -> None:
    """w <- w - strength * (w - w_global): the FedProx proximal gradient step."""
    strength = min(strength, 1.0)
    for p, a in zip(params, anchor):
        p.sub_(strength * (p - a))
