"""The model's input: one row per user (the unit of privacy) with L candidates."""

from __future__ import annotations

from typing import NamedTuple

import torch


class RecBatch(NamedTuple):
    """Inputs for B examples (users), each scoring L candidate items.

    Shapes (B users, H history slots, L candidates, A user attributes):
      user_dense      [B, F_u] float32   user dense features
      user_attributes [B, A]   int64     hashed attribute rows (A may be 0)
      history_items   [B, H]   int64     hashed item rows of recent train items
      history_categories [B, H] int64    hashed category rows of those items
      history_mask    [B, H]   float32   1 for a real slot, 0 for padding
      candidate_items [B, L]   int64     hashed item rows of candidates
      candidate_categories [B, L] int64  hashed category rows of candidates
      candidate_dense [B, L, F_i] float32 candidate dense features (log price)
      labels          [B, L]   float32   1 positive, 0 negative (training only)
      label_mask      [B, L]   float32   1 where the pair counts in the loss
      user_profile    [B, P]   float32   profile embedding (P = 0 when profiles are off)
    """

    user_dense: torch.Tensor
    user_attributes: torch.Tensor
    history_items: torch.Tensor
    history_categories: torch.Tensor
    history_mask: torch.Tensor
    candidate_items: torch.Tensor
    candidate_categories: torch.Tensor
    candidate_dense: torch.Tensor
    labels: torch.Tensor
    label_mask: torch.Tensor
    user_profile: torch.Tensor

    def to(self, device) -> "RecBatch":
        """Every field on ``device``."""
        return RecBatch(*(t.to(device) for t in self))

    @property
    def size(self) -> int:
        return int(self.user_dense.shape[0])
