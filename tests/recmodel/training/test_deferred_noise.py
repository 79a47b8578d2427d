"""Deferred noise: every value read, and every released row, has the variance of per-step dense noise."""

import torch
from torch import nn

from recmodel.training.deferred_noise import DeferredNoise

STD = 0.5  # noise std per step, weight units
SEEDS = 4000


def _run(seed: int, steps: int, read_at: dict[int, list[int]]):
    """A zero 4 x 2 table; ``read_at[step]`` rows are read by a forward pass before that step's update."""
    table = nn.Embedding(4, 2)
    nn.init.zeros_(table.weight)
    noise = DeferredNoise(table, std_per_step=STD, generator=torch.Generator().manual_seed(seed))
    hook = noise.settle_before_reads()
    reads = {}
    for step in range(steps):
        if step in read_at:
            reads[step] = table(torch.tensor(read_at[step])).detach().clone()
        noise.advance()
    noise.settle_all()
    hook.remove()
    return reads, table.weight.detach().clone()


def test_an_untouched_row_and_a_row_read_midway_have_the_variance_of_every_step_noised():
    steps = 5
    reads, finals = zip(*(_run(seed, steps, {2: [0, 0]}) for seed in range(SEEDS)))
    finals = torch.stack(finals)  # [seeds, 4, 2]
    read = torch.stack([r[2][0] for r in reads])  # row 0 as read before step 3's update: 2 steps of noise
    torch.testing.assert_close(read.var(0), torch.full((2,), 2 * STD**2), rtol=0.08, atol=0)
    torch.testing.assert_close(finals.var(0), torch.full((4, 2), steps * STD**2), rtol=0.08, atol=0)
    assert finals.mean(0).abs().max() < 4 * (steps * STD**2 / SEEDS) ** 0.5
    # the owed noise is independent of what was applied at the read: corr(read, final - read) ~ 0
    later = finals[:, 0] - read
    corr = ((read - read.mean(0)) * (later - later.mean(0))).mean(0) / (read.std(0) * later.std(0))
    assert corr.abs().max() < 0.06


def test_a_row_read_at_every_step_gets_one_step_of_noise_per_step():
    reads, finals = zip(*(_run(seed, 3, {0: [1], 1: [1], 2: [1]}) for seed in range(SEEDS)))
    first = torch.stack([r[0][0] for r in reads])
    second = torch.stack([r[1][0] for r in reads])
    assert (first == 0).all()  # nothing owed before the first step
    torch.testing.assert_close(second.var(0), torch.full((2,), STD**2), rtol=0.08, atol=0)
    torch.testing.assert_close(torch.stack(finals)[:, 1].var(0), torch.full((2,), 3 * STD**2), rtol=0.08, atol=0)


def test_settling_twice_adds_nothing_the_second_time_and_a_zero_std_adds_nothing():
    table = nn.Embedding(70_000, 3)  # more rows than one settling block
    noise = DeferredNoise(table, std_per_step=STD, generator=torch.Generator().manual_seed(0))
    noise.advance()
    noise.settle_all()
    settled = table.weight.detach().clone()
    noise.settle_all()
    assert torch.equal(table.weight, settled)
    quiet = DeferredNoise(table, std_per_step=0.0, generator=torch.Generator().manual_seed(0))
    quiet.advance()
    quiet.settle_all()
    assert torch.equal(table.weight, settled) and (quiet.noised_through == 1).all()
