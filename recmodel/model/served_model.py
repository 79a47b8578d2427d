"""Which of a run's models to serve: the one validation selected, unless told otherwise, and the round it is.

A run directory holds ``model.pt`` (the last round's global model) and, in simulation, ``selected/round-R/``
(the round whose validation NDCG@K was best; ``summary.json``'s ``selected``). ``fedrec recommend``,
``fedrec profile``, ``fedrec serve`` and ``SiteRecommender`` serve the selected model by default (``which =
"selected"``), the last one with ``which = "last"``; a folder given directly (``<run>/selected/round-3``, or
any folder holding ``model.pt``) is served as it is. Every output names the round it came from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from recmodel.model.model_file import WEIGHTS_FILE, ModelFileError

WHICH = ("selected", "last")
ROUND_FOLDER = re.compile(r"round-(\d+)$")


@dataclass(frozen=True)
class ServedModel:
    folder: Path  # holds model.pt and model.json
    round: int | None  # the training round it came from (None: not recorded)
    why: str  # one line: which model and why

    def console_line(self) -> str:
        """What a serving command prints first: which model, why, and where it lies."""
        return f"model: {self.why}; {self.folder}"

    def to_dict(self) -> dict:
        return {"folder": str(self.folder), "round": self.round, "why": self.why}


def served_model(run: str | Path, which: str = "selected") -> ServedModel:
    """The model folder to serve from ``run`` (a run directory, a ``selected/round-R`` folder or a model folder)."""
    if which not in WHICH:
        raise ModelFileError(f"--model must be one of {', '.join(WHICH)} (got {which!r})")
    path = Path(run)
    if path.is_file() and path.name == WEIGHTS_FILE:
        path = path.parent
    if not path.is_dir():  # a missing path or another file: load_model names the problem
        return ServedModel(path, None, "the path given")
    found = ROUND_FOLDER.search(path.name)
    if found and path.parent.name == "selected":
        return ServedModel(path, int(found.group(1)), f"round {found.group(1)}, the folder given")
    summary = _summary(path)
    chosen = summary.get("selected") or {}
    if which == "selected" and chosen.get("model"):
        return ServedModel(path / chosen["model"], int(chosen["round"]),
                           f"round {chosen['round']}, selected by {chosen.get('by', 'validation')} "
                           "(--model last serves the last round)")
    last = summary.get("rounds")
    if which == "selected" and summary:
        why = f"round {last}, the last (the run selected none: a deployment has no central validation)"
    elif summary:
        why = f"round {last}, the last (--model last)"
    else:
        why = "the folder given (no summary.json beside it names its round)"
    return ServedModel(path, int(last) if isinstance(last, int) else None, why)


def _summary(folder: Path) -> dict:
    file = folder / "summary.json"
    if not file.is_file():
        return {}
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError) as error:
        raise ModelFileError(f"{file}: cannot be read ({error})") from None
