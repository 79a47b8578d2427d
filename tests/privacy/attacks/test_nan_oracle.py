"""Attack: finite weights crafted to overflow into NaN only for the target user (a huge attribute row only the
target holds), so that a release is NaN exactly when the target is in the data.

Weakened site (clips by multiplying, so 0 x NaN = NaN reaches the sum): one DP-SGD step on D releases NaN, on
D' it does not: membership at epsilon = infinity. Real site: the weights are refused before any data is read
(|w| above max-received-weight), the same way for D and D'; and even weights that got through could not
leak: the step leaves out a user whose gradient is not finite, so with the noise off the step on D equals the
step on D' exactly.
"""

import copy

import numpy as np
import pytest
import torch
from flwr.app import MessageType

from client.app import train
from recmodel.data.federated import load_federated_data
from recmodel.data.examples import user_keys
from recmodel.model.bundle import Recommender
from recmodel.model.loss import recommendation_criterion
from recmodel.privacy.site_log import REFUSED_CODE, REFUSED_REASON, refusals
from recmodel.training.embedding_aware_dp_sgd import EmbeddingAwareDPSGD, fetch
from recmodel.training.local import recommendation_loss
from recmodel.training.per_user_gradients import PerUserGradientTape
from recmodel.training.release_plan import dlrm_training_examples
from simulations.defaults import default_run_config
from tests.conftest import TINY
from tests.privacy.attacks.conftest import call_site, expected_spec, reply_bytes, write_site_data
from tests.privacy.attacks.test_exception_oracle import BUCKETS, _give_target_the_last_row

HUGE = 3e38  # finite in float32 (its largest is 3.4e38); any product with it overflows


@pytest.fixture
def data(tmp_path):
    return write_site_data(tmp_path / "data", _give_target_the_last_row)


def _crafted(spec, seed=0):
    torch.manual_seed(seed)
    model = Recommender(spec)
    with torch.no_grad():
        model.dlrm.sparse_arch.attributes[-1].weight[BUCKETS - 1] = HUGE  # user_region's last row: the target's
    return model


def _one_step(model, data, users, config):
    """One noiseless DP-SGD step (plain SGD) over every user of ``users``: the updated DLRM's parameters."""
    model = copy.deepcopy(model.dlrm)
    examples = dlrm_training_examples(data.catalogue, users, config, seed=[7, 1])
    trainer = EmbeddingAwareDPSGD(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                  criterion=recommendation_criterion(config.loss), compute_loss=recommendation_loss,
                                  noise_multiplier=0.0, max_grad_norm=0.5, expected_batch_size=50,
                                  generator=torch.Generator().manual_seed(0))
    trainer.step(fetch(examples, list(range(len(examples)))))
    trainer.finish()
    return {name: p.detach().clone() for name, p in model.named_parameters()}, trainer.non_finite_users


def _naive_clipped_sums(self, factors):
    """The weakened site's clipping: per-user gradients times their factors, NaN x 0 included."""
    sums = {}
    for module, per_user in self._per_user.items():
        if isinstance(module, torch.nn.Embedding):
            rows, users, values, _ = per_user
            dense = torch.zeros_like(module.weight)
            dense.index_add_(0, rows, values * factors[users].unsqueeze(1))
            sums[module.weight] = dense
        else:
            for param, grads in per_user.items():
                sums[param] = torch.einsum("b,b...->...", factors, grads)
    return sums


def _neighbours(data):
    config = default_run_config(**{**TINY, "dataset": str(data.with_target)})
    loaded = load_federated_data(config, num_partitions=1)
    users = loaded.site_users(0)
    target = int(np.flatnonzero(users.user_ids == data.target)[0])
    assert users.attribute_rows[target, -1] == BUCKETS - 1
    return config, loaded, users, users.subset(np.delete(np.arange(len(users)), target))


def test_the_weakened_site_releases_nan_only_with_the_target(data, monkeypatch):
    config, loaded, with_target, without = _neighbours(data)
    model = _crafted(expected_spec(data.with_target))
    monkeypatch.setattr(PerUserGradientTape, "clipped_sums", _naive_clipped_sums)
    released_with, _ = _one_step(model, loaded, with_target, config)
    released_without, _ = _one_step(model, loaded, without, config)
    assert any(not torch.isfinite(p).all() for p in released_with.values())
    assert all(torch.isfinite(p).all() for p in released_without.values())


def test_the_real_step_leaves_the_target_out_exactly(data):
    config, loaded, with_target, without = _neighbours(data)
    model = _crafted(expected_spec(data.with_target))
    released_with, left_out_with = _one_step(model, loaded, with_target, config)
    released_without, left_out_without = _one_step(model, loaded, without, config)
    assert (left_out_with, left_out_without) == (1, 0)
    # equal up to float32 summation order (a batch with one more, zero-weighted row may sum in another order on
    # another CPU: 2e-9 measured); one user's clipped contribution is lr x clip / batch = 1e-3, 10^4 times more
    for name in released_with:
        torch.testing.assert_close(released_with[name], released_without[name], rtol=0, atol=1e-7, msg=name)


def test_the_real_site_refuses_the_crafted_weights_alike_with_and_without_the_target(data, tmp_path):
    replies = {}
    for name, dataset in (("with", data.with_target), ("without", data.without_target)):
        spec = expected_spec(dataset)
        reply = call_site(train, dataset=dataset, run_dir=tmp_path / name, spec=spec,
                          arrays=_crafted(spec).state_dict(), message_type=MessageType.TRAIN)
        assert (reply.error.code, reply.error.reason) == (REFUSED_CODE, REFUSED_REASON)
        logged = refusals(tmp_path / name / "partners" / "partner-0", "attack")
        assert "above the site's bound max-received-weight=10000" in logged[-1]["detail"]
        replies[name] = reply_bytes(reply)
    assert replies["with"] == replies["without"]


def test_user_keys_do_not_depend_on_who_else_is_present():
    ids = np.array(["a", "b", "c"])
    assert np.array_equal(user_keys(ids)[[0, 2]], user_keys(ids[[0, 2]]))
