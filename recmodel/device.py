"""The ``device`` setting: where training, evaluation, ``fedrec recommend`` and ``fedrec profile`` run."""

from __future__ import annotations

from contextlib import contextmanager

import torch

from recmodel.config import DEVICES, ConfigError


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` -> a CUDA GPU when there is one, else the CPU; ``cpu``; ``cuda`` (a clear error without a GPU)."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device = {name!r}, but torch sees no CUDA GPU on this machine "
                             f"(torch {torch.__version__}, CUDA build: {torch.version.cuda is not None}); "
                             "use device = 'auto' or 'cpu'")
        return torch.device(name)
    raise ConfigError(f"device = {name!r} is unknown; allowed: {', '.join(DEVICES)}")


@contextmanager
def on_device(model: torch.nn.Module, device: torch.device):
    """Move ``model`` to ``device`` for the block; its weights are back on the CPU afterwards, whatever happens."""
    model.to(device)
    try:
        yield model
    finally:
        model.to("cpu")
