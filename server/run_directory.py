"""The on-disk layout of one run: ``<output-dir>/<run-name>/``.

config.json        resolved run config (+ data facts)
metrics.jsonl      one JSON object per round (round 0 = initial model)
model.pt           final global weights + ModelSpec to rebuild the DLRM
summary.json       final metrics, baselines, privacy
ndcg_epsilon.png   NDCG@K and max epsilon over rounds
partners/<p>/      simulation only: each partner's ledger and calibration
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from recmodel.config import RunConfig
from recmodel.model.bundle import BundleSpec


@dataclass(frozen=True)
class RunDirectory:
    path: Path

    @classmethod
    def create(cls, config: RunConfig, *, base: Path | None = None) -> "RunDirectory":
        """Make a fresh run directory; relative output-dir resolves against ``base`` (default: cwd)."""
        output = Path(config.output_dir).expanduser()
        if not output.is_absolute():
            output = (base or Path.cwd()) / output
        name = config.run_name or time.strftime("%Y%m%d-%H%M%S")
        path = output / name
        suffix = 1
        while path.exists():
            suffix += 1
            path = output / f"{name}-{suffix}"
        path.mkdir(parents=True)
        return cls(path.resolve())

    @property
    def name(self) -> str:
        return self.path.name

    def write_json(self, filename: str, payload: dict) -> Path:
        target = self.path / filename
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(_finite(payload), indent=2, sort_keys=True))
        tmp.replace(target)
        return target

    def append_metrics(self, row: dict) -> None:
        with (self.path / "metrics.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(_finite(row), sort_keys=True) + "\n")

    def save_model(self, state_dict: dict, spec: BundleSpec, config: RunConfig) -> Path:
        target = self.path / "model.pt"
        torch.save({"state_dict": state_dict, "model_spec": spec.to_dict(), "run_config": config.to_mapping()}, target)
        return target


def load_model_file(path: str | Path):
    """Rebuild the ``Recommender`` saved by ``RunDirectory.save_model`` (path: run dir or model.pt).

    Returns (model, run config mapping).
    """
    from recmodel.model.bundle import Recommender

    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no saved model (expected a run directory holding model.pt)")
    saved = torch.load(path, map_location="cpu", weights_only=False)
    model = Recommender(BundleSpec.from_dict(saved["model_spec"]))
    model.load_state_dict(saved["state_dict"])
    return model, saved["run_config"]


def _finite(value):
    """JSON has no inf/nan: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
