"""What the federation trains and ships: the DLRM and, optionally, the profile model.

State-dict keys are prefixed ``dlrm.`` and ``profile.``; ``BundleSpec`` (both
specs) is stored beside the weights and sent to partners with them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from recmodel.config import RunConfig
from recmodel.data.interactions import Catalogue, Users
from recmodel.data.profile_features import summarise
from recmodel.model.dlrm import DLRM, ModelSpec
from recmodel.model.profile import ProfileModel, ProfileSpec


@dataclass(frozen=True)
class BundleSpec:
    dlrm: ModelSpec
    profile: ProfileSpec | None = None

    def to_dict(self) -> dict:
        return {"dlrm": self.dlrm.to_dict(), "profile": None if self.profile is None else self.profile.to_dict()}

    @classmethod
    def from_dict(cls, values: dict) -> "BundleSpec":
        profile = values.get("profile")
        return cls(ModelSpec(**values["dlrm"]), None if profile is None else ProfileSpec(**profile))


class Recommender(nn.Module):
    def __init__(self, spec: BundleSpec) -> None:
        super().__init__()
        self.spec = spec
        self.dlrm = DLRM(spec.dlrm)
        self.profile = ProfileModel(spec.profile) if spec.profile is not None else None

    @torch.no_grad()
    def user_profiles(self, features: np.ndarray | None) -> np.ndarray | None:
        """Profile embeddings [U, P] for behaviour summaries [U, F]; None when profiles are off."""
        if self.profile is None or features is None:
            return None
        self.profile.eval()
        return self.profile.embed(torch.from_numpy(features)).numpy()


def site_profiles(recommender: Recommender, catalogue: Catalogue, users: Users, config: RunConfig) -> np.ndarray | None:
    """Profile embeddings [U, P] of every user of a site from all their train interactions (None: profiles off)."""
    if recommender.profile is None:
        return None
    inputs = summarise(catalogue, users, category_buckets=config.category_buckets,
                       attribute_buckets=config.attribute_buckets, reference_time=config.reference_time)
    return recommender.user_profiles(inputs.features)
