"""Build the configured Flower strategy, made budget-aware.

``BudgetAware`` wraps any FedAvg-family strategy: a partner that replies
``budget-exhausted`` is left out of every later round (training and
evaluation); other failed replies are recorded and left out of that round's
average only. When no partner can train any more, ``configure_train``
raises ``NoPartnerCanTrain`` and the server ends the run cleanly with the
last aggregated model.
"""

from __future__ import annotations

from flwr.app import ArrayRecord
from flwr.serverapp.strategy import FedAdam, FedAvg, FedProx

from recmodel.config import RunConfig
from recmodel.privacy.budget import BUDGET_EXHAUSTED_CODE
from server.recorder import RoundRecorder


class NoPartnerCanTrain(Exception):
    """Every partner has exhausted its privacy budget."""


class BudgetAware:
    """Mixin placed before a FedAvg-family class in the MRO."""

    recorder: RoundRecorder
    exhausted_nodes: set
    latest_arrays: ArrayRecord | None

    def configure_train(self, server_round, arrays, config, grid):
        messages = [m for m in super().configure_train(server_round, arrays, config, grid)
                    if m.metadata.dst_node_id not in self.exhausted_nodes]
        if not messages:
            raise NoPartnerCanTrain(f"round {server_round}: every partner has exhausted its privacy budget")
        return messages

    def configure_evaluate(self, server_round, arrays, config, grid):
        return [m for m in super().configure_evaluate(server_round, arrays, config, grid)
                if m.metadata.dst_node_id not in self.exhausted_nodes]

    def aggregate_train(self, server_round, replies):
        replies = list(replies)
        for reply in replies:
            if not reply.has_error():
                continue
            node = reply.metadata.src_node_id
            if reply.error.code == BUDGET_EXHAUSTED_CODE:
                self.exhausted_nodes.add(node)
                self.recorder.budget_exhausted(server_round, node, str(reply.error.reason))
            else:
                self.recorder.partner_failed(server_round, node, str(reply.error.reason))
        arrays, metrics = super().aggregate_train(server_round, replies)
        if arrays is not None:
            self.latest_arrays = arrays
        return arrays, metrics


STRATEGIES = {"fedavg": FedAvg, "fedprox": FedProx, "fedadam": FedAdam}


def build_strategy(config: RunConfig, num_nodes: int, recorder: RoundRecorder) -> FedAvg:
    base = STRATEGIES[config.strategy]
    options = dict(
        fraction_train=1.0,
        fraction_evaluate=1.0,
        min_train_nodes=num_nodes,
        min_evaluate_nodes=num_nodes,
        min_available_nodes=num_nodes,
        weighted_by_key="num-examples",
        train_metrics_aggr_fn=recorder.aggregate_train,
        evaluate_metrics_aggr_fn=recorder.aggregate_evaluate,
    )
    if config.strategy == "fedprox":
        options["proximal_mu"] = config.proximal_mu
    if config.strategy == "fedadam":
        options.update(eta=config.server_learning_rate, eta_l=config.learning_rate)
    strategy = type(f"BudgetAware{base.__name__}", (BudgetAware, base), {})(**options)
    strategy.recorder = recorder
    strategy.exhausted_nodes = set()
    strategy.latest_arrays = None
    return strategy
