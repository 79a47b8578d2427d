"""Model files that are data, not code: what a run saves and a partner site loads.

A saved model is two files in one directory:

- ``model.pt``: the weights only, a flat ``{name: tensor}`` dict written by
  ``torch.save`` and read with ``torch.load(weights_only=True)``, which
  unpickles tensors and plain containers only: a crafted pickle that tries to
  run code fails to load instead of executing;
- ``model.json``: the format tag, the model spec (``BundleSpec``), the run
  config and, where the coordinator knows it (simulation), the catalogue's
  item ids the model was trained on, as JSON, and a SHA-256 binding the weights file to that list in its
  order (a reordered or edited catalogue, or swapped weights, is refused).

Loading checks the format, the spec, the run config's keys, and that every
tensor's name, shape and dtype is the one the spec builds; anything else ends
in a one-line ``ModelFileError`` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from recmodel.atomic_write import write_atomically
from recmodel.data.schema import DataError
from recmodel.model.bundle import BundleSpec, Recommender

WEIGHTS_FILE = "model.pt"
BINDING = "weights_and_catalogue_sha256"  # model.json: binding() of model.pt and catalogue_item_ids
SPEC_FILE = "model.json"
FORMAT = "fedrec-model/1"


class ModelFileError(DataError):
    """A saved model cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class SavedModel:
    model: Recommender  # in eval mode
    run_config: dict
    item_ids: list[str] | None  # the training catalogue's raw item ids, when the run recorded them
    category_names: list[str] | None = None  # category row r + 1 is category_names[r] (None: names were hashed)


def save_model(folder: str | Path, state_dict: dict, spec: BundleSpec, run_config: dict,
               item_ids: list[str] | None = None, category_names: list[str] | None = None) -> Path:
    """Write ``model.pt`` (weights) and ``model.json`` (spec, run config, catalogue) atomically into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in state_dict.items()}
    write_atomically(folder / WEIGHTS_FILE, lambda path: torch.save(weights, path))
    catalogue = None if item_ids is None else [str(i) for i in item_ids]
    categories = None if category_names is None else [str(c) for c in category_names]
    document = {"format": FORMAT, "model_spec": spec.to_dict(), "run_config": run_config,
                "catalogue_item_ids": catalogue, "catalogue_categories": categories,
                BINDING: binding(folder / WEIGHTS_FILE, catalogue, categories)}
    write_atomically(folder / SPEC_FILE, lambda path: path.write_text(json.dumps(document, indent=2, sort_keys=True)))
    return folder / WEIGHTS_FILE


def load_model(path: str | Path) -> SavedModel:
    """The saved model (eval mode), its run config and catalogue, from a run directory or its ``model.pt``."""
    path = Path(path)
    if not path.exists():  # never fall back to another folder's model
        raise ModelFileError(f"{path}: no such run directory or model file")
    if path.is_file() and path.name != WEIGHTS_FILE:
        raise ModelFileError(f"{path}: not a model; give a run directory (or its {WEIGHTS_FILE})")
    folder = path if path.is_dir() else path.parent
    weights_path, spec_path = folder / WEIGHTS_FILE, folder / SPEC_FILE
    for required in (weights_path, spec_path):
        if not required.is_file():
            raise ModelFileError(f"{required}: missing (a saved model is {WEIGHTS_FILE} plus {SPEC_FILE} in the "
                                 "run directory)")
    document = _read_spec(spec_path)
    try:
        spec = BundleSpec.from_dict(document["model_spec"])
        model = Recommender(spec)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"{spec_path}: model_spec cannot build a model ({type(error).__name__}: {error})") from None
    weights = _read_weights(weights_path)
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise ModelFileError(f"{weights_path}: tensors do not match {spec_path}: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")
    for name, tensor in expected.items():
        if weights[name].shape != tensor.shape or weights[name].dtype != tensor.dtype:
            raise ModelFileError(f"{weights_path}: tensor '{name}' is {tuple(weights[name].shape)} "
                                 f"{weights[name].dtype}, the spec needs {tuple(tensor.shape)} {tensor.dtype}")
        if not torch.isfinite(weights[name]).all():
            raise ModelFileError(f"{weights_path}: tensor '{name}' holds NaN or infinite values")
    model.load_state_dict(weights)
    model.eval()
    item_ids, categories = document.get("catalogue_item_ids"), document.get("catalogue_categories")
    for key, values in (("catalogue_item_ids", item_ids), ("catalogue_categories", categories)):
        if values is not None and not (isinstance(values, list) and all(isinstance(i, str) for i in values)):
            raise ModelFileError(f"{spec_path}: {key} must be a list of strings")
    if BINDING in document and document[BINDING] != binding(weights_path, item_ids, categories):
        raise ModelFileError(f"{spec_path}: its catalogue_item_ids or catalogue_categories (or {WEIGHTS_FILE}) changed "
                             "after the model was saved: the weights' rows would be served under other ids")
    return SavedModel(model, document["run_config"], item_ids, categories)


def binding(weights_path: Path, item_ids: list[str] | None, categories: list[str] | None = None) -> str:
    """SHA-256 over the weights file, the catalogue's item ids in order and (when recorded) its category names
    in order: ties each row to its id (files without category names hash as before)."""
    digest = hashlib.sha256(weights_path.read_bytes())
    digest.update(json.dumps(item_ids).encode("utf-8"))
    if categories is not None:
        digest.update(json.dumps(categories).encode("utf-8"))
    return digest.hexdigest()


def _read_spec(spec_path: Path) -> dict:
    try:
        document = json.loads(spec_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{spec_path}: not valid JSON ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise ModelFileError(f"{spec_path}: format {found!r} is not {FORMAT!r}")
    if not isinstance(document.get("run_config"), dict) or not isinstance(document.get("model_spec"), dict):
        raise ModelFileError(f"{spec_path}: needs the objects 'model_spec' and 'run_config'")
    return document


def _read_weights(weights_path: Path) -> dict:
    try:
        weights = torch.load(weights_path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{weights_path}: not a weights-only model file; refused to load it ({first})") from None
    if not isinstance(weights, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                for k, v in weights.items()):
        raise ModelFileError(f"{weights_path}: expected a dict of named tensors, found {type(weights).__name__}")
    return weights
