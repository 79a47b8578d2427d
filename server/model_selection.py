"""Simulation: pick the round whose global model ranks the users' validation items best.

On small real data the global model can peak and then overfit, or, under DP at small partners, lose to the
item prior it started from (round 0). The server's central evaluation (simulation only: it reads the data)
ranks each user's validation item (the second-to-last, never the test item) beside the test item; the round
with the highest ``valid-ndcg@K`` (the earliest on ties, round 0 included) is the selected model. Its
weights are kept in ``<run>/selected/round-<R>/`` (``model.pt`` + ``model.json``, loadable like the run's own
model) as soon as a round beats the earlier ones, so the selection survives ``resume-from``; the final
artifacts remove the folders of rounds that were not selected. ``model.pt`` stays the last round's model.
Selection reads no privacy-relevant data beyond what central evaluation already reads, and only the
test figure of the selected round is reported as its quality.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from recmodel.evaluation import VALIDATION_KEY
from recmodel.model.model_file import WEIGHTS_FILE, load_model

SELECTED_DIR = "selected"


def best_round(rows: list[dict], top_k: int) -> dict | None:
    """The recorder row with the highest central ``valid-ndcg@K`` (earliest on ties); None without any."""
    key = VALIDATION_KEY.format(k=top_k)
    best = None
    for row in rows:
        value = (row.get("central") or {}).get(key)
        if value is not None and (best is None or value > best["central"][key]):
            best = row
    return best


def selected_folder(run_path: Path, server_round: int) -> Path:
    return run_path / SELECTED_DIR / f"round-{server_round}"


def is_new_best(rows: list[dict], central: dict | None, top_k: int) -> bool:
    """Whether a round evaluated as ``central`` beats every earlier row of ``rows`` on validation."""
    key = VALIDATION_KEY.format(k=top_k)
    value = (central or {}).get(key)
    best = best_round(rows, top_k)
    return value is not None and (best is None or value > best["central"][key])


def selection_summary(run_path: Path, rows: list[dict], top_k: int) -> dict | None:
    """summary.json's ``selected``; removes the ``selected/round-*`` folders of the rounds not selected.

    None when no round has a validation figure (a deployment: no central evaluation).
    """
    best = best_round(rows, top_k)
    if best is None:
        return None
    keep = selected_folder(run_path, best["round"])
    for folder in (run_path / SELECTED_DIR).glob("round-*"):
        if folder != keep:
            shutil.rmtree(folder)
    central, key = best["central"], VALIDATION_KEY.format(k=top_k)
    return {
        "round": best["round"],
        "by": f"{key} of the central evaluation (simulation: the server reads the users' validation items)",
        key: central[key],
        f"ndcg@{top_k}": central[f"ndcg@{top_k}"],
        f"hr@{top_k}": central[f"hr@{top_k}"],
        "model": str(keep.relative_to(run_path)) if keep.is_dir() else None,
    }


def served_model(run_path: Path, rows: list[dict], top_k: int, last_round: int, last_state: dict) -> tuple[int, dict]:
    """(round, state dict) of the model ``fedrec serve`` serves by default: the selected round's weights when a
    round was selected and its folder is kept, else the last round's ``last_state``."""
    best = best_round(rows, top_k)
    if best is not None and (selected_folder(run_path, best["round"]) / WEIGHTS_FILE).is_file():
        return best["round"], load_model(selected_folder(run_path, best["round"])).model.state_dict()
    return last_round, last_state
