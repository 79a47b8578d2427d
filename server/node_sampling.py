"""Node sampling with a deadline: the nodes of a round are fixed once, and a wait for too few ends.

Flower's strategies count the connected nodes, then sample, asking the Grid each time; a SuperNode that dies
between the two calls leaves ``sample_nodes`` waiting forever for a node count that never comes back
(``round-timeout`` bounds replies, not this wait). The coordinator therefore takes one snapshot of the
connected nodes per round, leaves out the partners that sit the run out, waits at most ``deadline_s`` for
``min-partners`` of them, and hands the strategy a ``FrozenGrid`` that answers ``get_node_ids`` with that
snapshot, so its sampling never waits.
"""

from __future__ import annotations

import time


class TooFewNodes(RuntimeError):
    """Fewer than the needed partners were connected when the wait ended."""


class FrozenGrid:
    """A Grid whose ``get_node_ids`` is a fixed snapshot; everything else is the real Grid's."""

    def __init__(self, grid, node_ids: list[int]) -> None:
        self._grid, self._node_ids = grid, list(node_ids)

    def get_node_ids(self) -> list[int]:
        return list(self._node_ids)

    def __getattr__(self, name):
        return getattr(self._grid, name)


def round_nodes(grid, *, excluded: set[int], needed: int, deadline_s: float, poll_s: float = 1.0) -> list[int]:
    """The connected nodes not in ``excluded``, once at least ``needed`` are; ``TooFewNodes`` after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while True:
        nodes = sorted(set(grid.get_node_ids()) - excluded)
        if len(nodes) >= needed:
            return nodes
        if time.monotonic() >= deadline:
            raise TooFewNodes(f"{len(nodes)} partner(s) connected after waiting {deadline_s:.0f} s, fewer than "
                              f"min-partners={needed}")
        time.sleep(poll_s)
