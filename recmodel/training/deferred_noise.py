"""Deferred DP-SGD noise for large embedding tables trained with plain SGD.

Under DP-SGD every row of every table receives fresh Gaussian noise at every
step, touched or not. With plain SGD (no momentum, no weight decay) a row's
value is linear in that noise: after k steps in which the row was not read,
it has moved by ``-lr / E[B] x (sum of k independent N(0, (sigma C)^2))``,
which is one draw of ``N(0, k (lr sigma C / E[B])^2)``. So the noise can be
owed instead of drawn: each row remembers the step through which its noise is
applied, and the owed noise is drawn (with sqrt(k) times the per-step scale)
when the row is next read by a forward pass, and for every row before the
model leaves the site (``settle_all``). Every value the computation reads, and
the released table, then has exactly the distribution of dense per-step noise,
at the cost of the rows the batch touches instead of the whole table.
"""

from __future__ import annotations

import torch
from torch import nn


class DeferredNoise:
    """Noise owed to one ``nn.Embedding`` table's rows; ``std_per_step`` = lr x sigma x C / E[B] (weight units)."""

    def __init__(self, table: nn.Embedding, *, std_per_step: float, generator: torch.Generator) -> None:
        self.table = table
        self.std_per_step = std_per_step
        self.generator = generator
        self.steps = 0  # steps taken so far
        self.noised_through = torch.zeros(table.num_embeddings, dtype=torch.long, device=table.weight.device)

    def advance(self) -> None:
        """One DP-SGD step has been taken: every row now owes one more step of noise."""
        self.steps += 1

    def _owed_noise(self, owed: torch.Tensor) -> torch.Tensor:
        """[R, D] noise for R rows owing ``owed`` [R] steps: N(0, owed x std_per_step^2) per coordinate (zero rows
        where nothing is owed)."""
        weight = self.table.weight
        noise = torch.randn(len(owed), self.table.embedding_dim, generator=self.generator, device=weight.device,
                            dtype=weight.dtype)
        return noise.mul_((self.std_per_step * owed.to(weight.dtype).sqrt()).unsqueeze(1))

    @torch.no_grad()
    def settle(self, rows: torch.Tensor) -> None:
        """Add the noise owed to ``rows`` (any shape, repeats allowed) up to the current step."""
        rows = torch.unique(rows.reshape(-1))
        owed = self.steps - self.noised_through[rows]  # [R] steps of noise not yet applied
        if self.std_per_step > 0:
            due = owed > 0
            rows, owed = rows[due], owed[due]
            self.table.weight[rows] += self._owed_noise(owed)
        self.noised_through[rows] = self.steps

    @torch.no_grad()
    def settle_all(self, rows_per_block: int = 65_536) -> None:
        """Apply all owed noise (before the table is read outside training or released), a block of rows at a time.

        Each block draws one [R, D] noise tensor and adds it scaled by std_per_step x sqrt(owed steps) per row
        (zero for a row that owes none) to a contiguous slice, no index arithmetic (5M rows x 32: about the cost
        of drawing the noise).
        """
        weight = self.table.weight
        for start in range(0, self.table.num_embeddings, rows_per_block):
            end = min(start + rows_per_block, self.table.num_embeddings)
            owed = self.steps - self.noised_through[start:end]  # [R]
            if self.std_per_step > 0 and bool((owed > 0).any()):
                weight[start:end] += self._owed_noise(owed)
            self.noised_through[start:end] = self.steps

    def settle_before_reads(self):
        """A forward pre-hook for the table: settle the rows a forward pass is about to read."""
        return self.table.register_forward_pre_hook(lambda module, inputs: self.settle(inputs[0]))
