"""Build the configured Flower strategy (all partners sampled every round)."""

from __future__ import annotations

from flwr.serverapp.strategy import FedAdam, FedAvg, FedProx

from recmodel.config import RunConfig
from server.recorder import RoundRecorder


def build_strategy(config: RunConfig, num_nodes: int, recorder: RoundRecorder) -> FedAvg:
    common = dict(
        fraction_train=1.0,
        fraction_evaluate=1.0,
        min_train_nodes=num_nodes,
        min_evaluate_nodes=num_nodes,
        min_available_nodes=num_nodes,
        weighted_by_key="num-examples",
        train_metrics_aggr_fn=recorder.aggregate_train,
        evaluate_metrics_aggr_fn=recorder.aggregate_evaluate,
    )
    if config.strategy == "fedavg":
        return FedAvg(**common)
    if config.strategy == "fedprox":
        return FedProx(**common, proximal_mu=config.proximal_mu)
    if config.strategy == "fedadam":
        return FedAdam(**common, eta=config.server_learning_rate, eta_l=config.learning_rate)
    raise ValueError(f"unknown strategy {config.strategy}")
