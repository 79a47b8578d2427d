"""Implicit-feedback loss, kept outside the model (as in torchrec)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


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
        if self.reduction == "none":
            return per_user
        if self.reduction == "sum":
            return per_user.sum()
        return per_user.mean()
