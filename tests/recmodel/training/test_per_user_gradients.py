"""The tape's per-user norms and clipped sums equal those of one backward pass per user."""

import copy

import pytest
import torch
from torch import nn

from recmodel.model.batch import RecBatch
from recmodel.model.dlrm import DLRM
from recmodel.model.loss import PerUserBCELoss
from recmodel.model.profile import ProfileLoss, ProfileModel, ProfileSpec
from recmodel.training.per_user_gradients import PerUserGradientTape, SparseGradient
from tests.recmodel.model.test_dlrm import SPEC
from tests.recmodel.training.test_dp_clipping import _heavy_batch

CLIP = 0.05


def _per_user_reference(model, loss_of_user, users: int) -> list[dict]:
    """One plain backward pass per user: {parameter name: gradient}."""
    grads = []
    for b in range(users):
        copy_ = copy.deepcopy(model)
        loss_of_user(copy_, b).backward()
        grads.append({n: p.grad.clone() for n, p in copy_.named_parameters()})
    return grads


def _dlrm_loss(batch: RecBatch, reduction: str):
    def loss(model, rows=slice(None)):
        part = RecBatch(*(t[rows] for t in batch))
        return PerUserBCELoss(reduction)(model(part), part.labels, part.label_mask)
    return loss


def test_dlrm_norms_and_clipped_sums_match_one_backward_per_user_with_repeated_ids():
    torch.manual_seed(0)
    model = DLRM(SPEC)
    batch = _heavy_batch()  # user 0 repeats one item id in every history slot and candidate
    reference = _per_user_reference(model, lambda m, b: _dlrm_loss(batch, "mean")(m, slice(b, b + 1)), 8)
    tape = PerUserGradientTape(model, sparse_tables=(model.sparse_arch.candidate_item,))
    with tape.recording():
        _dlrm_loss(batch, "sum")(model).backward()
    norms = tape.squared_norms()
    expected = torch.stack([sum((g**2).sum() for g in r.values()) for r in reference])
    torch.testing.assert_close(norms, expected, rtol=1e-5, atol=1e-9)
    factors = (CLIP / (norms.sqrt() + 1e-6)).clamp(max=1.0)
    assert (factors < 1).all()  # clipping is active for every user
    sums = tape.clipped_sums(factors)
    names = {p: n for n, p in model.named_parameters()}
    assert set(names[p] for p in sums) == set(names.values())  # every parameter
    for param, got in sums.items():
        want = sum(factors[b] * reference[b][names[param]] for b in range(8))
        if isinstance(got, SparseGradient):
            assert (got.rows.diff() > 0).all()  # distinct rows
            dense = torch.zeros_like(want)
            dense[got.rows] = got.values
            assert (want.abs().sum(1)[got.rows] > 0).all()  # only touched rows
            got = dense
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-9, msg=names[param])


def test_profile_model_norms_match_one_backward_per_user():
    torch.manual_seed(1)
    spec = ProfileSpec(input_dim=9, behaviour_dim=5, num_categories=4, profile_dim=3, hidden=6)
    model = ProfileModel(spec)
    features, categories = torch.randn(6, 9), torch.randint(0, 4, (6,))

    def loss(m, rows=slice(None), reduction="mean"):
        reconstruction, logits, _ = m(features[rows])
        return ProfileLoss(reduction)(reconstruction, logits, features[rows, :5], categories[rows])

    reference = _per_user_reference(model, lambda m, b: loss(m, slice(b, b + 1)), 6)
    tape = PerUserGradientTape(model)
    with tape.recording():
        loss(model, reduction="sum").backward()
    expected = torch.stack([sum((g**2).sum() for g in r.values()) for r in reference])
    torch.testing.assert_close(tape.squared_norms(), expected, rtol=1e-5, atol=1e-9)


def test_a_layer_called_twice_counts_both_calls():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Embedding(10, 3))
    ids = torch.tensor([[1, 2], [3, 3]])

    def loss(m, rows=slice(None)):
        table = m[0]
        return (table(ids[rows]).sum((1, 2)) + table(ids[rows, :1]).pow(2).sum((1, 2))).sum()

    reference = _per_user_reference(model, lambda m, b: loss(m, slice(b, b + 1)), 2)
    tape = PerUserGradientTape(model)
    with tape.recording():
        loss(model).backward()
    expected = torch.stack([(r["0.weight"] ** 2).sum() for r in reference])
    torch.testing.assert_close(tape.squared_norms(), expected)


def test_parameters_are_trainable_again_after_recording_and_unsupported_layers_are_refused():
    model = DLRM(SPEC)
    tape = PerUserGradientTape(model)
    with tape.recording():
        assert not any(p.requires_grad for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(TypeError, match="'1' is a LayerNorm"):
        PerUserGradientTape(nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)))
