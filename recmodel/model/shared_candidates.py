"""DLRM logits when every user scores the same candidates (full ranking), without per-pair copies.

``DLRM.forward`` broadcasts each user's vectors over its L candidates and
stacks all F features into a [B, L, F, D] tensor before taking their pairwise
dot products with many tiny matrix products. When the candidates are shared
(ranking the catalogue), every dot product between two user-side vectors is
one number per user, between two candidate-side vectors one per item, and
between a user-side and a candidate-side vector one matrix product
[B, D] x [D, L]. ``score_shared_candidates`` computes them that way and
feeds the OverArch the same [B, L, D + F(F-1)/2] input in the same order, so
its logits equal ``forward``'s (up to float rounding).
"""

from __future__ import annotations

import torch

from recmodel.model.batch import RecBatch
from recmodel.model.dlrm import DLRM

CANDIDATE_FEATURES = 2  # candidate item, candidate category (features 1 and 2; feature 0 is the dense vector)


def _user_vectors(model: DLRM, batch: RecBatch) -> torch.Tensor:
    """[B, S_u, D]: pooled history items, pooled history categories, then one vector per user attribute."""
    arch = model.sparse_arch
    mask = batch.history_mask.unsqueeze(-1)  # [B, H, 1]
    denominator = mask.sum(dim=1).clamp(min=1.0)  # [B, 1]
    pooled_items = (arch.history_item(batch.history_items) * mask).sum(1) / denominator
    pooled_categories = (arch.history_category(batch.history_categories) * mask).sum(1) / denominator
    attributes = [table(batch.user_attributes[:, a]) for a, table in enumerate(arch.attributes)]
    return torch.stack([pooled_items, pooled_categories, *attributes], dim=1)


def _dense_vectors(model: DLRM, batch: RecBatch, candidate_dense: torch.Tensor) -> torch.Tensor:
    """[B, L, D]: the DenseArch, its first layer split into a user part [B, H] and a candidate part [L, H]."""
    first, rest = model.dense_arch.mlp[0], model.dense_arch.mlp[1:]
    user = torch.cat([batch.user_dense, batch.user_profile], dim=-1)  # [B, F_u + P]
    width = user.shape[1]
    hidden = (user @ first.weight[:, :width].T + first.bias).unsqueeze(1) \
        + (candidate_dense @ first.weight[:, width:].T).unsqueeze(0)  # [B, L, H]
    return rest(hidden)


def score_shared_candidates(model: DLRM, batch: RecBatch) -> torch.Tensor:
    """Logits [B, L] of ``model`` for B users and the L candidates in row 0 of ``batch``'s candidate fields.

    Every user must score the same candidates (as in ``candidates_batch`` with a shared [L] list).
    """
    items, categories = batch.candidate_items[0], batch.candidate_categories[0]  # [L]
    arch = model.sparse_arch
    users = _user_vectors(model, batch)  # [B, S_u, D]
    candidates = torch.stack([arch.candidate_item(items), arch.candidate_category(categories)])  # [2, L, D]
    dense = _dense_vectors(model, batch, batch.candidate_dense[0])  # [B, L, D]
    size = dense.shape[:2]

    def feature_dot(i: int, j: int) -> torch.Tensor:
        """Dot product of features i < j (0 dense, 1-2 candidate side, 3.. user side), as [B, L]."""
        if i == 0:
            if j <= CANDIDATE_FEATURES:
                return (dense * candidates[j - 1]).sum(-1)
            return (dense @ users[:, j - 3].unsqueeze(-1)).squeeze(-1)  # [B, L, D] x [B, D, 1]
        if j <= CANDIDATE_FEATURES:  # both candidate side: one number per item
            return (candidates[i - 1] * candidates[j - 1]).sum(-1).expand(size)
        if i <= CANDIDATE_FEATURES:  # candidate x user: one matrix product
            return users[:, j - 3] @ candidates[i - 1].T
        return (users[:, i - 3] * users[:, j - 3]).sum(-1, keepdim=True).expand(size)  # both user side

    interaction = model.interaction_arch
    dots = torch.stack([feature_dot(int(i), int(j)) for i, j in zip(interaction.rows, interaction.cols)], dim=-1)
    logits = model.over_arch(torch.cat([dense, dots], dim=-1))  # [B, L]
    logits = logits + model.item_bias(items).squeeze(-1) \
        + model.prior_scale(model.item_prior[items].unsqueeze(-1)).squeeze(-1)
    if model.spec.history_match:  # candidate item . pooled history items
        logits = logits + users[:, 0] @ candidates[0].T
    return logits
