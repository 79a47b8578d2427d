"""Membership scores: how far a release moved the history-table row of each canary's fresh item.

A canary's fresh item is the first event of its sequence, so it sits in the history of every training example
the canary gives, and in no one else's: only that canary's gradient reaches the fresh item's row of the DLRM's
history item table (``CANARY_TABLES``). Its candidate-table row is no such witness: every user's negative
sampling updates it, member or not. A white-box auditor reads the history row in the weights it was given.

``row_change_scores(before, after, rows, controls)`` [m]: the L2 norm of the change, between two state dicts,
of the fresh item's row of each table in ``CANARY_TABLES``, minus the mean of the same for ``controls`` other
canaries' fresh items (chosen at random once, without looking at the coins): noise added to every row moves the
controls alike and cancels on average.

Views (``recmodel.empirical_audit.run_audit``): ``site updates`` sums the score over rounds, between each
partner's released model and the global model of that round, for the canaries at that partner (the strongest
view a curious coordinator has); ``final model`` scores the last aggregate against the first round's global
model (both public).
"""

from __future__ import annotations

import numpy as np
import torch

CONTROLS = 32  # other canaries' fresh items compared with each canary's own
CANARY_TABLES = ("dlrm.sparse_arch.history_item.weight",)  # [item rows, D]: reached by the history's owner alone


def row_change(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], names: list[str],
               rows: np.ndarray) -> np.ndarray:
    """[len(rows)] float64: the L2 norm, over every tensor in ``names`` together, of row ``rows[i]``'s change."""
    index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
    squared = torch.zeros(len(index), dtype=torch.float64)
    for name in names:
        change = (after[name].double() - before[name].double())[index].reshape(len(index), -1)
        squared += (change ** 2).sum(dim=1)
    return squared.sqrt().numpy()


def row_change_scores(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], rows: np.ndarray,
                      controls: np.ndarray) -> np.ndarray:
    """[m]: each canary's fresh-item row change minus the mean change of its controls' rows.

    ``rows`` [m]: the fresh items' table rows; ``controls`` [m, K]: indices into ``rows``.
    """
    change = row_change(before, after, list(CANARY_TABLES), rows)
    return change - change[controls].mean(axis=1)


def control_indices(count: int, seed: int) -> np.ndarray:
    """[count, min(CONTROLS, count - 1)] indices of other canaries (never the row's own), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    width = min(CONTROLS, count - 1)
    picks = np.stack([rng.choice(count - 1, size=width, replace=False) for _ in range(count)])
    return picks + (picks >= np.arange(count)[:, None])  # skip the canary itself
