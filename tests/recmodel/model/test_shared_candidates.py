"""Full-ranking logits computed once per user and once per item equal DLRM.forward's."""

import dataclasses

import pytest
import torch

from recmodel.model.batch import RecBatch
from recmodel.model.dlrm import DLRM
from recmodel.model.shared_candidates import score_shared_candidates
from tests.recmodel.model.test_dlrm import SPEC, make_batch


def _shared(batch: RecBatch, profile_dim: int) -> RecBatch:
    """Every user scores row 0's candidates; random profile embeddings [B, P]."""
    fields = batch._asdict()
    for name in ("candidate_items", "candidate_categories", "candidate_dense"):
        fields[name] = fields[name][:1].expand_as(fields[name]).contiguous()
    fields["user_profile"] = torch.randn(batch.size, profile_dim, generator=torch.Generator().manual_seed(1))
    return RecBatch(**fields)


@pytest.mark.parametrize("history_match", [False, True])
@pytest.mark.parametrize("profile_dim", [0, 3])
def test_shared_candidate_scores_equal_the_forward_pass(history_match, profile_dim):
    torch.manual_seed(0)
    model = DLRM(dataclasses.replace(SPEC, history_match=history_match, profile_dim=profile_dim))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))  # no zero-initialised part hides a term
        model.item_prior.copy_(torch.rand(SPEC.item_buckets))
    batch = _shared(make_batch(batch_size=5, candidates=9), profile_dim)
    with torch.no_grad():
        torch.testing.assert_close(score_shared_candidates(model, batch), model(batch), rtol=1e-5, atol=1e-5)
