"""The federated rounds, from any round on: Flower's ``Strategy.start`` loop, resumable.

``Strategy.start`` always begins at round 1. This loop does the same per round (configure and send training,
aggregate, configure and send evaluation, aggregate, server-side evaluation) from ``first_round``, and calls
``after_round(round, arrays)`` once a round is complete, where the server checkpoints.
"""

from __future__ import annotations

from typing import Callable

from flwr.app import ArrayRecord, ConfigRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from server.message_exchange import send_and_receive


def run_rounds(strategy: Strategy, grid: Grid, arrays: ArrayRecord, *, first_round: int, last_round: int,
               timeout: float, train_config: ConfigRecord, evaluate_config: ConfigRecord,
               evaluate_fn: Callable[[int, ArrayRecord], object],
               after_round: Callable[[int, ArrayRecord], None]) -> ArrayRecord:
    """Rounds ``first_round..last_round``; returns the last aggregated global arrays (``arrays`` if none)."""
    for server_round in range(first_round, last_round + 1):
        replies = send_and_receive(grid, strategy.configure_train(server_round, arrays, train_config, grid),
                                   timeout=timeout)
        aggregated, _ = strategy.aggregate_train(server_round, replies)
        if aggregated is not None:
            arrays = aggregated
        replies = send_and_receive(grid, strategy.configure_evaluate(server_round, arrays, evaluate_config, grid),
                                   timeout=timeout)
        strategy.aggregate_evaluate(server_round, replies)
        evaluate_fn(server_round, arrays)
        after_round(server_round, arrays)
    return arrays
