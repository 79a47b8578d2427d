"""Implicit-feedback loss, kept outside the model (as in torchrec)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def reduce_over_users(per_user: torch.Tensor, reduction: str) -> torch.Tensor:
    """[B] per-user losses -> as they are (``"none"``), their sum, or their mean."""
    if reduction == "none":
        return per_user
    if reduction == "sum":
        return per_user.sum()
    return per_user.mean()


class PerUserBCELoss(nn.Module):
    """Binary cross-entropy over each user's L (candidate, label) pairs.

    ``forward(logits [B, L], labels [B, L], mask [B, L])``: per user, the
    masked mean of the pairwise BCE; then reduced over users by
    ``self.reduction`` (``"mean"``, ``"sum"`` or ``"none"`` -> [B]). Opacus's
    ghost clipping switches ``reduction`` to ``"none"`` to get per-user losses,
    so one user is one clipped example.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pairwise = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        per_user = (pairwise * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # [B]
        return reduce_over_users(per_user, self.reduction)


class PerUserSampledSoftmaxLoss(nn.Module):
    """Sampled softmax: each positive against all of its user's negatives.

    ``forward(logits [B, L], labels [B, L], mask [B, L])``: for every positive
    p of a user (label 1, mask 1), ``-log(exp(s_p) / (exp(s_p) + sum_n exp(s_n)))``
    over the user's negatives n (label 0, mask 1); per user the mean over its
    positives, then reduced over users by ``self.reduction`` as in
    ``PerUserBCELoss``. With uniform negatives this ranks a positive above the
    catalogue, which is what full-ranking NDCG measures; BCE instead only
    separates it from each negative alone.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positive = labels * mask  # [B, L]
        negative_logits = logits.masked_fill((positive > 0) | (mask <= 0), float("-inf"))
        negatives = torch.logsumexp(negative_logits, dim=1, keepdim=True)  # [B, 1]; -inf without negatives
        per_pair = torch.logaddexp(logits, negatives) - logits  # [B, L]
        per_user = (per_pair * positive).sum(dim=1) / positive.sum(dim=1).clamp(min=1.0)  # [B]
        return reduce_over_users(per_user, self.reduction)


def recommendation_criterion(name: str) -> nn.Module:
    """The DLRM's training loss by its config name: ``softmax`` (default) or ``bce``."""
    losses = {"softmax": PerUserSampledSoftmaxLoss, "bce": PerUserBCELoss}
    if name not in losses:
        raise ValueError(f"loss = {name!r} is unknown; allowed: {', '.join(losses)}")
    return losses[name]()
