"""The on-disk layout of one run: ``<output-dir>/<run-name>/``.

config.json        resolved run config (+ data facts)
metrics.jsonl      one JSON object per round (round 0 = initial model)
model.pt           final global weights (weights only: loaded with torch.load(weights_only=True))
model.json         model spec and run config to rebuild the models
selected/round-R/  simulation: model.pt + model.json of the round with the best validation NDCG
                   (server.model_selection)
summary.json       final metrics, baselines, privacy
ndcg_epsilon.png   NDCG@K over rounds against the baselines, and max epsilon
report.html        one self-contained page: quality vs baselines, privacy per partner and release kind, plots
partners/<p>/      simulation only: each partner's ledger and calibration
checkpoint/        the last completed round's checkpoint (server.checkpoint), for resume-from
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from recmodel.atomic_write import write_atomically
from recmodel.config import RunConfig
from recmodel.model.bundle import BundleSpec
from recmodel.model.model_file import save_model


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

    def rewrite_metrics(self, rows: list[dict]) -> None:
        """metrics.jsonl holding exactly ``rows`` (replaced atomically)."""
        text = "".join(json.dumps(_finite(row), sort_keys=True) + "\n" for row in rows)
        write_atomically(self.path / "metrics.jsonl", lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def save_model(self, state_dict: dict, spec: BundleSpec, config: RunConfig, item_ids=None,
                   category_names=None) -> Path:
        """``model.pt`` (weights only) and ``model.json`` (spec, run config, catalogue): see ``recmodel.model.model_file``."""
        return save_model(self.path, state_dict, spec, config.to_mapping(),
                          None if item_ids is None else list(map(str, item_ids)),
                          None if category_names is None else list(category_names))


def _finite(value):
    """JSON has no inf/nan: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
