"""A partner's update reaches the global model only if it is well-formed, finite and within the clipping bound."""

from __future__ import annotations

import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp.strategy import FedAdam, FedAvg
from flwr.supercore.task_identity import TaskIdentity

from recmodel.model.bundle import Recommender
from recmodel.training.private_round import run_private_round
from server.recorder import RoundRecorder
from server.run_directory import RunDirectory
from server.strategy import BudgetAwareStrategy, build_strategy
from server.update_checks import update_norm_bound, update_problem


@pytest.fixture
def trained(tiny_config, tiny_data, tiny_spec, tmp_path):
    """(global state, a real DP-SGD update of partner 0 as ArrayRecord, its train metrics)."""
    torch.manual_seed(0)
    model = Recommender(tiny_spec)
    global_state = {k: v.clone() for k, v in model.state_dict().items()}
    outcome = run_private_round(model, tiny_data.catalogue, tiny_data.site_users(0), tiny_config,
                                state_dir=tmp_path / "site", partner="partner-0", run_id="r", server_round=1,
                                max_epsilon=tiny_config.max_epsilon)
    metrics = {"steps": outcome.steps, "sample-rate": outcome.sample_rate, "noise-multiplier": outcome.noise_multiplier,
               "num-examples": outcome.examples, "epsilon": outcome.epsilon}
    return global_state, ArrayRecord(model.state_dict()), metrics


def _changed(state: dict, name: str, value: torch.Tensor) -> ArrayRecord:
    return ArrayRecord({**state, name: value})


def test_an_honest_dp_update_passes_well_inside_its_bound(trained, tiny_config):
    global_state, update, metrics = trained
    bound = update_norm_bound(tiny_config, global_state, metrics)
    assert update_problem(global_state, update, bound) is None
    norm = sum(float(((update.to_torch_state_dict()[k] - v) ** 2).sum()) for k, v in global_state.items()) ** 0.5
    assert 0 < norm < bound / 2


def test_nan_inf_shapes_dtypes_names_and_norms_are_rejected_with_the_reason(trained, tiny_config):
    global_state, update, metrics = trained
    state = update.to_torch_state_dict()
    bound = update_norm_bound(tiny_config, global_state, metrics)
    name = "dlrm.over_arch.mlp.0.weight"
    nan = state[name].clone()
    nan[0, 0] = float("nan")
    assert "holds NaN or Inf" in update_problem(global_state, _changed(state, name, nan), bound)
    inf = state[name].clone()
    inf[1, 1] = float("inf")
    assert f"'{name}' holds NaN or Inf" in update_problem(global_state, _changed(state, name, inf), bound)
    assert "is (3, 3)" in update_problem(global_state, _changed(state, name, torch.zeros(3, 3)), bound)
    assert "float64" in update_problem(global_state, _changed(state, name, state[name].double()), bound)
    missing = ArrayRecord({k: v for k, v in state.items() if k != name})
    assert "missing ['dlrm.over_arch.mlp.0.weight']" in update_problem(global_state, missing, bound)
    scaled = {k: global_state[k] + 100 * bound * (v - global_state[k]) / max(float((v - global_state[k]).norm()), 1e-12)
              for k, v in state.items()}
    assert "exceeds the bound" in update_problem(global_state, ArrayRecord(scaled), bound)


@pytest.fixture
def task_identity():
    """Flower's run identity, as its ServerApp runtime sets it, so that Messages can be built here."""
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    yield
    TaskIdentity.run_id = TaskIdentity.node_id = TaskIdentity.task_id = None


def _reply(node: int, arrays: ArrayRecord, metrics: dict) -> Message:
    request = Message(content=RecordDict({"config": ConfigRecord({"server-round": 1})}), dst_node_id=node,
                      message_type=MessageType.TRAIN)
    partner = ConfigRecord({"partner": f"partner-{node}", "node-id": node, "policy": "{}"})
    return Message(content=RecordDict({"arrays": arrays, "metrics": MetricRecord(
        {**metrics, "unit-weight": 1.0, "max-epsilon": 10.0}), "partner": partner}), reply_to=request)


def test_the_strategy_averages_the_honest_updates_and_names_the_partner_whose_update_holds_nan(
        trained, tiny_config, tmp_path, task_identity):
    global_state, update, metrics = trained
    state = update.to_torch_state_dict()
    other = {k: v + 0.001 if v.is_floating_point() else v for k, v in state.items()}
    poisoned = {k: v.clone() for k, v in state.items()}
    poisoned["dlrm.dense_arch.mlp.0.bias"][0] = float("nan")
    recorder = RoundRecorder(run=RunDirectory(tmp_path), top_k=10, baseline={})
    inner = FedAvg(fraction_train=1.0, min_train_nodes=1, min_available_nodes=1, weighted_by_key="unit-weight",
                   train_metrics_aggr_fn=recorder.aggregate_train)
    strategy = BudgetAwareStrategy(inner, recorder, tiny_config)
    strategy._global_state = global_state
    strategy.populations = {node: int(metrics["num-examples"]) for node in (1, 2, 3)}  # declared at the site check
    arrays, _ = strategy.aggregate_train(1, [_reply(1, update, metrics), _reply(2, ArrayRecord(other), metrics),
                                             _reply(3, ArrayRecord(poisoned), metrics)])
    averaged = arrays.to_torch_state_dict()
    for name, value in state.items():
        if value.is_floating_point():
            assert torch.allclose(averaged[name], (value + other[name]) / 2, atol=1e-6), name
    assert set(recorder.partner_failures[1]) == {"partner-3"}
    assert "update rejected: array 'dlrm.dense_arch.mlp.0.bias' holds NaN or Inf" in recorder.partner_failures[1][
        "partner-3"]


def test_fedadam_aggregates_keep_the_global_models_dtypes(trained, tiny_config, tmp_path, task_identity):
    global_state, update, metrics = trained
    other = {k: v + 0.001 if v.is_floating_point() else v for k, v in update.to_torch_state_dict().items()}
    recorder = RoundRecorder(run=RunDirectory(tmp_path), top_k=10, baseline={})
    inner = FedAdam(fraction_train=1.0, min_train_nodes=1, min_available_nodes=1, weighted_by_key="unit-weight",
                    train_metrics_aggr_fn=recorder.aggregate_train, eta=0.01, eta_l=0.01)
    inner.current_arrays = {name: tensor.numpy() for name, tensor in global_state.items()}  # configure_train's
    strategy = BudgetAwareStrategy(inner, recorder, tiny_config)
    strategy._global_state = global_state
    strategy.populations = {node: int(metrics["num-examples"]) for node in (1, 2, 3)}  # declared at the site check
    arrays, _ = strategy.aggregate_train(2, [_reply(1, update, metrics), _reply(2, ArrayRecord(other), metrics)])
    aggregated = arrays.to_torch_state_dict()
    assert {k: v.dtype for k, v in aggregated.items()} == {k: v.dtype for k, v in global_state.items()}
    moved = [k for k, v in aggregated.items() if v.is_floating_point() and not torch.equal(v, global_state[k])]
    assert moved and all(torch.isfinite(aggregated[k]).all() for k in moved)
    assert recorder.partner_failures == {}
    # the next round's honest updates, in the global model's dtypes, pass the checks against this aggregate
    strategy._global_state = aggregated
    assert len(strategy._reject_bad_updates(3, [_reply(1, update, metrics)])) == 1


def test_a_reply_without_arrays_or_with_unreadable_metrics_is_rejected_not_a_crash(trained, tiny_config):
    from server.update_checks import reply_problem

    global_state, update, metrics = trained
    assert reply_problem(tiny_config, global_state, {"arrays": update, "metrics": MetricRecord(metrics)}) is None
    assert "lacks its arrays" in reply_problem(tiny_config, global_state, {"metrics": MetricRecord(metrics)})
    no_steps = MetricRecord({k: v for k, v in metrics.items() if k != "steps"})
    assert "metrics cannot be read" in reply_problem(tiny_config, global_state, {"arrays": update, "metrics": no_steps})


def test_fedmedian_takes_the_coordinate_median_so_one_outlier_within_the_bound_moves_nothing(
        trained, tiny_config, tmp_path, task_identity):
    global_state, update, metrics = trained
    state = update.to_torch_state_dict()
    nudged = {k: v + 0.001 if v.is_floating_point() else v for k, v in state.items()}
    outlier = {k: v + 0.01 if v.is_floating_point() else v for k, v in state.items()}  # within the bound
    config = tiny_config.replace(strategy="fedmedian")
    recorder = RoundRecorder(run=RunDirectory(tmp_path), top_k=10, baseline={})
    strategy = build_strategy(config, 3, recorder)
    strategy._global_state = global_state
    strategy.populations = {node: int(metrics["num-examples"]) for node in (1, 2, 3)}
    arrays, _ = strategy.aggregate_train(1, [_reply(1, update, metrics), _reply(2, ArrayRecord(nudged), metrics),
                                             _reply(3, ArrayRecord(outlier), metrics)])
    assert recorder.partner_failures == {}
    for name, value in arrays.to_torch_state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, nudged[name], atol=1e-6), name
