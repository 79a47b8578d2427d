"""Per-user gradient norms and clipped gradient sums from one backward pass (embedding-aware).

With a loss that sums per-user losses, L = sum_b l_b over B users, and a model
in which users do not interact (no batch norm), the gradient of L at a layer's
output row b is l_b's. So the per-user gradient of every ``nn.Linear`` and
``nn.Embedding`` parameter follows from the layer's input and that output
gradient, recorded in one forward and one backward pass:

- Linear, y = x W^T + b, input x [B, T, in], output gradient G [B, T, out]:
  per-user dW_b = G_b^T x_b [B, out, in], db_b = sum_t G_bt [B, out].
- Embedding, y = W[ids], ids [B, N], G [B, N, D]: user b's gradient lives on
  the rows ids_b, repeated ids summed. One 1-D key per (user, id),
  ``b * rows + id``, and one sort (``torch.unique`` of a 1-D tensor) group
  them into U distinct (user, row) pairs with values [U, D]; the user's
  squared norm is the sum over its pairs. Nothing of size [B, rows, D] or
  [rows, D] is built, and the clipped sum comes back as (rows [R], values
  [R, D]) for the R rows the batch touched.

While recording, the parameters are frozen (``requires_grad=False``): autograd
then computes only the gradients with respect to activations, not the summed
parameter gradients that DP-SGD would throw away. Other modules may hold no
trainable parameters of their own (a ``TypeError`` names the one that does).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

SUPPORTED = (nn.Linear, nn.Embedding)


@dataclass
class _Record:
    """One layer's inputs and outputs over the forward passes of one recording."""

    module: nn.Module
    inputs: list = field(default_factory=list)  # Linear: x [B, ..., in]; Embedding: ids [B, ...]
    outputs: list = field(default_factory=list)  # y, whose .grad after backward is G


@dataclass(frozen=True)
class SparseGradient:
    """A clipped gradient sum over an embedding table's touched rows: rows [R] (distinct), values [R, D]."""

    rows: torch.Tensor
    values: torch.Tensor


class PerUserGradientTape:
    """Records ``model``'s trainable Linear and Embedding layers; see the module docstring.

    Use: ``with tape.recording(): loss_sum.backward()`` (the forward pass inside
    the block too), then ``squared_norms()`` -> [B] and
    ``clipped_sums(factors [B])`` -> {parameter: dense tensor or SparseGradient}.
    """

    def __init__(self, model: nn.Module, *, sparse_tables: tuple[nn.Embedding, ...] = ()) -> None:
        self.layers = []
        for name, module in model.named_modules():
            own = [p for p in module.parameters(recurse=False) if p.requires_grad]
            if not own:
                continue
            if not isinstance(module, SUPPORTED):
                raise TypeError(f"embedding-aware DP-SGD supports trainable nn.Linear and nn.Embedding layers only; "
                                f"'{name}' is a {type(module).__name__} with trainable parameters")
            self.layers.append(module)
        self.sparse_tables = set(sparse_tables)
        self.records: dict[nn.Module, _Record] = {}
        self._per_user: dict[nn.Module, object] = {}

    @property
    def parameters(self) -> list[nn.Parameter]:
        return [p for m in self.layers for p in m.parameters(recurse=False) if p.requires_grad]

    @contextmanager
    def recording(self):
        """Freeze the parameters and record every recorded layer's input and output."""
        params = self.parameters
        self.records = {m: _Record(m) for m in self.layers}
        self._per_user = {}
        handles = [m.register_forward_hook(self._record) for m in self.layers]
        for p in params:
            p.requires_grad_(False)
        try:
            yield self
        finally:
            for p in params:
                p.requires_grad_(True)
            for h in handles:
                h.remove()

    def _record(self, module, inputs, output):
        record = self.records[module]
        if output.requires_grad:
            output.retain_grad()
        else:  # nothing trainable upstream: the output is where the gradient stops
            output = output.detach().requires_grad_(True)
        record.inputs.append(inputs[0].detach())
        record.outputs.append(output)
        return output

    def squared_norms(self) -> torch.Tensor:
        """[B] squared L2 norm of each user's gradient over all recorded parameters."""
        total = None
        for module, record in self.records.items():
            if not record.outputs:
                continue
            if isinstance(module, nn.Embedding):
                per_user = self._embedding_pairs(module, record)
                norms = torch.zeros(per_user[3], dtype=per_user[2].dtype, device=per_user[2].device)
                norms.index_add_(0, per_user[1], per_user[2].pow(2).sum(1))
            else:
                per_user = self._linear_per_user(module, record)
                norms = sum(g.pow(2).flatten(1).sum(1) for g in per_user.values())
            self._per_user[module] = per_user
            total = norms if total is None else total + norms
        if total is None:
            raise RuntimeError("nothing recorded: run the forward and backward pass inside tape.recording()")
        return total

    def clipped_sums(self, factors: torch.Tensor) -> dict:
        """{parameter: sum_b factors[b] x user b's gradient}; dense, or ``SparseGradient`` for sparse tables.

        ``factors`` [B]: each user's clipping factor min(1, C / norm), 0 for a user left out. A left-out user's
        gradient is selected away, not multiplied by 0, so a NaN or Inf in it (0 x inf = NaN) cannot reach the
        sum. Call after ``squared_norms``.
        """
        sums = {}
        left_out = not bool((factors > 0).all())
        for module, per_user in self._per_user.items():
            if isinstance(module, nn.Embedding):
                pair_rows, pair_users, values, _ = per_user
                rows, inverse = torch.unique(pair_rows, return_inverse=True)
                summed = torch.zeros(len(rows), values.shape[1], dtype=values.dtype, device=values.device)
                scale = factors[pair_users].unsqueeze(1)
                scaled = torch.where(scale > 0, values * scale, 0.0) if left_out else values * scale
                summed.index_add_(0, inverse, scaled)
                if module in self.sparse_tables:
                    sums[module.weight] = SparseGradient(rows, summed)
                else:
                    dense = torch.zeros_like(module.weight)
                    dense[rows] = summed
                    sums[module.weight] = dense
            else:
                for param, grads in per_user.items():
                    if left_out:
                        kept = (factors > 0).reshape(-1, *([1] * (grads.dim() - 1)))
                        grads = torch.where(kept, grads, 0.0)
                    sums[param] = torch.einsum("b,b...->...", factors, grads)
        return sums

    @staticmethod
    def _linear_per_user(module: nn.Linear, record: _Record) -> dict:
        """{weight: [B, out, in], bias: [B, out]} per-user gradients of one Linear layer."""
        batch = record.inputs[0].shape[0]
        x = _joined([i.reshape(batch, -1, module.in_features) for i in record.inputs])  # [B, T, in]
        g = _joined([_grad_of(o).reshape(batch, -1, module.out_features) for o in record.outputs])  # [B, T, out]
        grads = {}
        if module.weight.requires_grad:
            grads[module.weight] = torch.bmm(g.transpose(1, 2), x)  # [B, out, in]
        if module.bias is not None and module.bias.requires_grad:
            grads[module.bias] = g.sum(1)  # [B, out]
        return grads

    @staticmethod
    def _embedding_pairs(module: nn.Embedding, record: _Record):
        """Distinct (user, row) pairs of one table: (rows [U], users [U], summed gradients [U, D], B)."""
        batch = record.inputs[0].shape[0]
        ids = _joined([i.reshape(batch, -1) for i in record.inputs])  # [B, N]
        g = _joined([_grad_of(o).reshape(batch, -1, module.embedding_dim) for o in record.outputs])  # [B, N, D]
        users = torch.arange(batch, device=ids.device).unsqueeze(1)
        keys = (users * module.num_embeddings + ids).reshape(-1)  # one 1-D key per (user, id)
        pairs, inverse = torch.unique(keys, return_inverse=True)
        values = torch.zeros(len(pairs), module.embedding_dim, dtype=g.dtype, device=g.device)
        values.index_add_(0, inverse, g.reshape(-1, module.embedding_dim))
        return pairs % module.num_embeddings, pairs // module.num_embeddings, values, batch


def _joined(parts: list[torch.Tensor]) -> torch.Tensor:
    """The recordings of one layer's calls side by side along dimension 1 (no copy for a single call)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def _grad_of(output: torch.Tensor) -> torch.Tensor:
    """The recorded output's gradient (zeros if the loss did not depend on it)."""
    return output.grad if output.grad is not None else torch.zeros_like(output)
