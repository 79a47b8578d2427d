"""Randomness of the DP mechanism, drawn at the site from the operating system.

Poisson sampling masks and Gaussian noise decide what a release reveals: if the
coordinator could predict them (say from the run config's ``seed``), it could
subtract the noise and read the exact sum of clipped per-user gradients. So
every DP release draws them from a fresh ``torch.Generator`` seeded with 64
bits from ``secrets`` (the OS's secure source, ``os.urandom``), never from the
run config; reproducible seeds stay for data generation, negatives and
initialisation.

What this is and is not: the generator itself is torch's Mersenne Twister
(``torchcsprng``, Opacus's ``secure_mode`` backend, is unmaintained), seeded
with an unpredictable 64-bit secret per release. Nobody outside the site knows
the seed; the residual risk is a 2^64 brute-force search over seeds, and
floating-point attacks on Gaussian sampling (Mironov 2012), which affect
Opacus's secure mode alike.
"""

from __future__ import annotations

import secrets

import torch

SEED_BITS = 64


def secret_generator(device: str | torch.device = "cpu") -> torch.Generator:
    """A generator for one DP release, seeded from ``secrets`` (never from the run config)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(secrets.randbits(SEED_BITS))
    return generator
