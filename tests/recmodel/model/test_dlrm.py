import dataclasses

import torch

from recmodel.model.batch import RecBatch
from recmodel.model.dlrm import DLRM, DenseArch, InteractionArch, ModelSpec, OverArch, SparseArch
from recmodel.model.loss import PerUserBCELoss

SPEC = ModelSpec(item_buckets=50, category_buckets=8, attribute_buckets=6, num_user_attributes=2,
                 user_dense_dim=6, embedding_dim=4, dense_hidden=7, over_hidden=5)
B, H, L = 3, 5, 4


def make_batch(batch_size=B, history=H, candidates=L) -> RecBatch:
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(batch_size, history)
    mask[0, 2:] = 0  # first user has a short history
    return RecBatch(
        user_dense=torch.rand(batch_size, SPEC.user_dense_dim, generator=g),
        user_attributes=torch.randint(1, SPEC.attribute_buckets, (batch_size, 2), generator=g),
        history_items=torch.randint(1, SPEC.item_buckets, (batch_size, history), generator=g),
        history_categories=torch.randint(1, SPEC.category_buckets, (batch_size, history), generator=g),
        history_mask=mask,
        candidate_items=torch.randint(1, SPEC.item_buckets, (batch_size, candidates), generator=g),
        candidate_categories=torch.randint(1, SPEC.category_buckets, (batch_size, candidates), generator=g),
        candidate_dense=torch.rand(batch_size, candidates, 1, generator=g),
        labels=torch.zeros(batch_size, candidates),
        label_mask=torch.ones(batch_size, candidates),
        user_profile=torch.zeros(batch_size, 0),
    )


def test_sparse_arch_shape_and_masked_mean_pooling():
    arch = SparseArch(SPEC)
    batch = make_batch()
    out = arch(batch)
    assert out.shape == (B, L, 4 + 2, SPEC.embedding_dim)
    expected = arch.history_item(batch.history_items[0, :2]).mean(0)
    torch.testing.assert_close(out[0, 0, 2], expected)  # padding slots are ignored
    torch.testing.assert_close(out[0, 0, 2], out[0, L - 1, 2])  # broadcast over candidates


def test_tied_initialisation_starts_history_and_candidate_tables_equal():
    arch = SparseArch(SPEC)
    assert torch.equal(arch.history_item.weight, arch.candidate_item.weight)
    assert arch.history_item.weight is not arch.candidate_item.weight


def test_dense_arch_shape():
    arch = DenseArch(SPEC)
    assert arch(torch.rand(B, 6), torch.rand(B, L, 1)).shape == (B, L, SPEC.embedding_dim)


def test_interaction_arch_values_are_pairwise_dots():
    arch = InteractionArch(num_sparse_features=2)
    dense = torch.tensor([[[1.0, 0.0]]])  # [1, 1, D=2]
    sparse = torch.tensor([[[[2.0, 0.0], [0.0, 3.0]]]])  # [1, 1, S=2, D=2]
    out = arch(dense, sparse)
    assert out.shape == (1, 1, InteractionArch.output_dim(2, 2)) == (1, 1, 5)
    # dense, then dots (dense.s1, dense.s2, s1.s2)
    torch.testing.assert_close(out[0, 0], torch.tensor([1.0, 0.0, 2.0, 0.0, 0.0]))


def test_over_arch_shape():
    assert OverArch(9, 5)(torch.rand(B, L, 9)).shape == (B, L)


def test_dlrm_scores_every_candidate_and_users_are_independent():
    model = DLRM(SPEC)
    batch = make_batch()
    scores = model(batch)
    assert scores.shape == (B, L)
    single = model(RecBatch(*(t[1:2] for t in batch)))
    torch.testing.assert_close(single[0], scores[1])


def test_per_user_loss_shapes_and_mask():
    loss = PerUserBCELoss(reduction="none")
    logits = torch.zeros(2, 3)
    labels = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    per_user = loss(logits, labels, mask)
    assert per_user.shape == (2,)
    torch.testing.assert_close(per_user, torch.full((2,), 0.6931), atol=1e-4, rtol=0)


def test_item_bias_starts_at_zero_and_shifts_only_its_items_score():
    model = DLRM(SPEC)
    batch = make_batch()
    assert model.item_bias.weight.abs().sum() == 0
    before = model(batch)
    item = int(batch.candidate_items[0, 0])
    with torch.no_grad():
        model.item_bias.weight[item] = 2.0
    shift = model(batch) - before
    torch.testing.assert_close(shift, 2.0 * (batch.candidate_items == item).float())


def test_the_logit_holds_the_candidate_item_dot_the_pooled_history_items():
    model = DLRM(dataclasses.replace(SPEC, history_match=True))
    with torch.no_grad():
        for p in model.over_arch.parameters():
            p.zero_()
        model.prior_scale.weight.zero_()
    batch = make_batch()
    mask = batch.history_mask.unsqueeze(-1)
    pooled = (model.sparse_arch.history_item(batch.history_items) * mask).sum(1) / mask.sum(1)  # [B, D]
    expected = (model.sparse_arch.candidate_item(batch.candidate_items) * pooled.unsqueeze(1)).sum(-1)  # [B, L]
    torch.testing.assert_close(model(batch), expected)
    old_file = DLRM(SPEC)  # a model file from before the term: no history_match key, scored as it was trained
    old_file.load_state_dict(model.state_dict())
    torch.testing.assert_close(old_file(batch), torch.zeros_like(expected))
