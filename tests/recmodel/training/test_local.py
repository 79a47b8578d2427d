import numpy as np
import pytest
import torch

from recmodel.data.examples import TrainingExamples
from recmodel.model.dlrm import DLRM
from recmodel.training.local import DPSettings, local_optimizer, steps_per_epoch, train_locally


def _examples(tiny_data, tiny_config, users=None, unit="user"):
    site = tiny_data.site_users(0) if users is None else users
    return TrainingExamples(tiny_data.catalogue, site, history_length=tiny_config.history_length,
                            positives_per_user=4, negatives_per_positive=2, privacy_unit=unit)


def test_dp_training_counts_every_step_including_empty_poisson_batches(tiny_data, tiny_config, tiny_spec):
    torch.manual_seed(3)
    three_users = tiny_data.site_users(0).subset(np.arange(3))
    examples = _examples(tiny_data, tiny_config, three_users)
    model = DLRM(tiny_spec.dlrm)
    before = [p.detach().clone() for p in model.parameters()]
    # q = 1/3, 3 steps per epoch: P(empty batch) = (2/3)^3 ~ 0.30 per step, so 30 steps hit some.
    report = train_locally(model, examples, epochs=10, batch_size=1, learning_rate=0.1,
                           dp=DPSettings(noise_multiplier=1.0, max_grad_norm=1.0))
    assert report.steps == 30 == sum(n for _, _, n in report.history)
    assert report.history[0][:2] == (1.0, 1 / 3)
    assert any((p != b).any() for p, b in zip(model.parameters(), before))


def test_training_lowers_the_loss_without_dp(tiny_data, tiny_config, tiny_spec):
    torch.manual_seed(0)
    model = DLRM(tiny_spec.dlrm)
    examples = _examples(tiny_data, tiny_config)
    first = train_locally(model, examples, epochs=1, batch_size=8, learning_rate=0.5, momentum=0.9, dp=None)
    for _ in range(4):
        last = train_locally(model, examples, epochs=1, batch_size=8, learning_rate=0.5, momentum=0.9, dp=None)
    assert last.mean_loss < first.mean_loss
    assert last.history == []


def test_event_level_unit_makes_one_example_per_interaction(tiny_data, tiny_config):
    users = tiny_data.site_users(0)
    examples = _examples(tiny_data, tiny_config, unit="event")
    assert len(examples) == len(users.train_items)
    labels = examples[0][8]  # RecBatch field order: labels is the 9th
    assert labels.sum() == 1


def test_opacus_sample_rate_matches_steps_per_epoch(tiny_data, tiny_config, tiny_spec):
    examples = _examples(tiny_data, tiny_config)
    report = train_locally(DLRM(tiny_spec.dlrm), examples, epochs=1, batch_size=16, learning_rate=0.1,
                           dp=DPSettings(noise_multiplier=1.0, max_grad_norm=1.0))
    assert report.steps == steps_per_epoch(len(examples), 16)
    assert report.sample_rate == pytest.approx(1 / report.steps)


def test_empty_training_set_is_a_clear_error(tiny_data, tiny_config, tiny_spec):
    empty = tiny_data.site_users(0).subset(np.arange(0))
    with pytest.raises(ValueError, match="no training examples"):
        train_locally(DLRM(tiny_spec.dlrm), _examples(tiny_data, tiny_config, empty), epochs=1, batch_size=4,
                      learning_rate=0.1, dp=None)


def test_local_batch_size_leaves_a_small_partner_four_steps_per_epoch():
    from recmodel.training.local import local_batch_size

    assert local_batch_size(256, 10_000) == 256
    assert local_batch_size(256, 122) == 30 and steps_per_epoch(122, 30) == 5
    assert local_batch_size(256, 3) == 1


def test_without_dp_a_step_is_no_longer_than_learning_rate_times_max_grad_norm(tiny_data, tiny_config, tiny_spec):
    model = DLRM(tiny_spec.dlrm)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    train_locally(model, _examples(tiny_data, tiny_config), epochs=1, batch_size=10_000, learning_rate=100.0,
                  dp=None, max_grad_norm=0.5)  # one step over every user
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert 0 < (after - before).norm() <= 100.0 * 0.5 * (1 + 1e-5)


def test_adam_moves_no_coordinate_more_than_the_step_bound_the_server_checks():
    """``server.update_checks.ADAM_STEP_BOUND``: whatever the gradients, one Adam step moves a coordinate by at
    most that many learning rates (adversarial sequence: small gradients, then one huge one)."""
    from server.update_checks import ADAM_STEP_BOUND
    weight = torch.zeros(1000, requires_grad=True)
    optimizer = local_optimizer("adam", [weight], 1.0, 0.0)
    g = torch.Generator().manual_seed(0)
    largest = 0.0
    for step in range(300):
        scale = 10.0 ** torch.randint(-6, 6, (1000,), generator=g)
        weight.grad = torch.sign(torch.randn(1000, generator=g)) * scale
        before = weight.detach().clone()
        optimizer.step()
        largest = max(largest, float((weight.detach() - before).abs().max()))
    assert 1.0 < largest <= ADAM_STEP_BOUND


def test_an_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match="optimizer = 'rmsprop' is unknown; allowed: sgd, adam"):
        local_optimizer("rmsprop", [torch.zeros(1, requires_grad=True)], 0.1, 0.0)
