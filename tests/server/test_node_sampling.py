"""A round's nodes are fixed once; a wait for too few ends at its deadline instead of hanging."""

import pytest
from flwr.serverapp.strategy.strategy_utils import sample_nodes

from server.node_sampling import FrozenGrid, TooFewNodes, round_nodes


class DyingGrid:
    """Two nodes on the first call, one from then on: a SuperNode killed between Flower's count and sample."""

    def __init__(self):
        self.calls = 0

    def get_node_ids(self):
        self.calls += 1
        return [1, 2] if self.calls == 1 else [1]


def test_a_node_dying_between_count_and_sample_does_not_hang_flowers_sampling():
    grid = DyingGrid()
    frozen = FrozenGrid(grid, round_nodes(grid, excluded=set(), needed=1, deadline_s=0))
    count = len(frozen.get_node_ids())  # what FedAvg counts first ...
    sampled, _ = sample_nodes(frozen, 1, count)  # ... then waits for; the real grid would now answer 1 < 2
    assert sorted(sampled) == [1, 2]


def test_too_few_nodes_end_the_wait_at_the_deadline_with_a_reason():
    with pytest.raises(TooFewNodes, match="1 partner\\(s\\) connected after waiting 0 s, fewer than min-partners=2"):
        round_nodes(DyingGrid(), excluded={2}, needed=2, deadline_s=0.0, poll_s=0.01)
