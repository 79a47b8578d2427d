"""The user-profile model: an autoencoder over behaviour summaries with a next-category head.

``ProfileModel.forward(features [B, F]) -> (reconstruction [B, F_b], category_logits [B, C], embedding [B, P])``.
The embedding is compact (P = profile-dim) and predictive: the encoder is
trained to reconstruct the behaviour part of its input and to predict the
category of the user's next interaction. One example is one user, so Opacus
clips per user.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ProfileSpec:
    input_dim: int
    behaviour_dim: int
    num_categories: int
    profile_dim: int = 16
    hidden: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


class ProfileModel(nn.Module):
    def __init__(self, spec: ProfileSpec) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = nn.Sequential(nn.Linear(spec.input_dim, spec.hidden), nn.ReLU(),
                                     nn.Linear(spec.hidden, spec.profile_dim), nn.Tanh())
        self.decoder = nn.Sequential(nn.Linear(spec.profile_dim, spec.hidden), nn.ReLU(),
                                     nn.Linear(spec.hidden, spec.behaviour_dim))
        self.next_category = nn.Linear(spec.profile_dim, spec.num_categories)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """[B, F] -> profile embedding [B, P] in (-1, 1)."""
        return self.encoder(features)

    def forward(self, features: torch.Tensor):
        embedding = self.embed(features)
        return self.decoder(embedding), self.next_category(embedding), embedding


class ProfileLoss(nn.Module):
    """Per user: mean squared reconstruction error x ``reconstruction_weight`` + next-category cross-entropy.

    ``forward(reconstruction [B, F_b], logits [B, C], behaviour [B, F_b], next_category)``, next_category being
    [B] int64 rows or [B, C] float shares (an item with several categories);
    ``reduction`` ``none`` -> [B] (what Opacus's ghost clipping asks for), ``mean`` or ``sum``.
    """

    def __init__(self, reduction: str = "mean", reconstruction_weight: float = 10.0) -> None:
        super().__init__()
        self.reduction = reduction
        self.reconstruction_weight = reconstruction_weight

    def forward(self, reconstruction, logits, behaviour, next_category):
        per_user = (self.reconstruction_weight * ((reconstruction - behaviour) ** 2).mean(dim=1)
                    + F.cross_entropy(logits, next_category, reduction="none"))
        if self.reduction == "none":
            return per_user
        return per_user.sum() if self.reduction == "sum" else per_user.mean()
