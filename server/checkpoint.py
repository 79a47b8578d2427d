"""The coordinator's checkpoint after each completed round, and what ``resume-from`` restores from it.

``<run-dir>/checkpoint/checkpoint.pt`` (replaced atomically after every round; loaded with
``torch.load(weights_only=True)``) holds: the last completed round; the global models' weights; the server
optimiser's state (FedAdam's moments; FedAvg and FedProx have none); the run id the sites' ledgers know the
run by; the run config; the round recorder (rows, partners, failures) and the baselines and pre-flight facts,
as JSON. A resumed run continues in the same run directory, from the round after the checkpoint's.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from flwr.serverapp.strategy.fedopt import FedOpt

from recmodel.atomic_write import write_atomically
from recmodel.config import ConfigError, RunConfig
from recmodel.errors import DataError
from server.recorder import PartnerState, RoundRecorder

CHECKPOINT = Path("checkpoint") / "checkpoint.pt"
FEDOPT_STATE = ("current_arrays", "m_t", "v_t")
NOT_COMPARED = ("resume-from", "reference-time")  # the stopped run's resolved reference time is kept


@dataclass
class Checkpoint:
    server_round: int
    arrays: dict[str, torch.Tensor]
    strategy_state: dict[str, dict[str, torch.Tensor]]
    ledger_run_id: str
    run_config: dict
    recorder: dict
    baselines: dict
    preflight: dict | None


def save_checkpoint(run_dir: Path, checkpoint: Checkpoint) -> None:
    payload = {
        "server_round": checkpoint.server_round, "arrays": checkpoint.arrays,
        "strategy_state": checkpoint.strategy_state, "ledger_run_id": checkpoint.ledger_run_id,
        "json": json.dumps({"run_config": checkpoint.run_config, "recorder": checkpoint.recorder,
                            "baselines": checkpoint.baselines, "preflight": checkpoint.preflight}),
    }
    write_atomically(Path(run_dir) / CHECKPOINT, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(run_dir: Path) -> Checkpoint:
    path = Path(run_dir).expanduser() / CHECKPOINT
    if not path.is_file():
        raise DataError(f"resume-from: {path} does not exist: that run completed no round (start it again) or "
                        f"'{run_dir}' is not a fedrec run directory")
    try:
        payload = torch.load(path, weights_only=True)  # a crafted pickle is refused here, never run
        extra = json.loads(payload["json"])
        arrays = payload["arrays"]
        if not isinstance(arrays, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                   for k, v in arrays.items()):
            raise ValueError("its 'arrays' are not named tensors")
        return Checkpoint(int(payload["server_round"]), arrays, payload["strategy_state"],
                          str(payload["ledger_run_id"]), extra["run_config"], extra["recorder"], extra["baselines"],
                          extra["preflight"])
    except (pickle.UnpicklingError, KeyError, ValueError, TypeError, AttributeError, RuntimeError, EOFError,
            OSError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DataError(f"resume-from: cannot read the checkpoint {path} ({type(error).__name__}: {first}); "
                        "start the run again, or restore the run directory") from None


def check_resumable(checkpoint: Checkpoint, config: RunConfig, run_dir: Path) -> None:
    """The resumed run must ask for exactly what the stopped one asked (its DP plan depends on it)."""
    requested = config.to_mapping()
    changed = [f"{key} (was {checkpoint.run_config.get(key)!r}, now {value!r})" for key, value in requested.items()
               if key not in NOT_COMPARED and checkpoint.run_config.get(key) != value]
    if changed:
        raise ConfigError(f"resume-from={run_dir}: a resumed run keeps the stopped run's configuration; "
                          f"changed: {', '.join(changed)}")
    if config.central_dp:
        raise ConfigError("resume-from: resuming a central-dp run is not supported (the server-side accountant's "
                          "state is not checkpointed); start it again")
    if checkpoint.server_round >= config.num_server_rounds:
        raise ConfigError(f"resume-from={run_dir}: that run already completed all {config.num_server_rounds} rounds")


def strategy_state(inner) -> dict[str, dict[str, torch.Tensor]]:
    """FedAdam's (FedOpt's) moments and reference arrays as tensors; {} for strategies without state."""
    state = {}
    if not isinstance(inner, FedOpt):
        return state
    for name in FEDOPT_STATE:
        value = getattr(inner, name, None)
        if value is not None:
            state[name] = {key: torch.from_numpy(np.asarray(array)) for key, array in value.items()}
    return state


def restore_strategy_state(inner, state: dict[str, dict[str, torch.Tensor]]) -> None:
    for name, arrays in state.items():
        setattr(inner, name, {key: tensor.numpy() for key, tensor in arrays.items()})


def recorder_state(recorder: RoundRecorder) -> dict:
    """What a resumed run needs of the recorder, as JSON-able data (int keys become strings in JSON)."""
    return {"rows": recorder.rows, "round": recorder._round,
            "partners": {name: dataclasses.asdict(state) for name, state in recorder.partners.items()},
            "failed_rounds": recorder.failed_rounds, "partner_failures": recorder.partner_failures}


def restore_recorder(recorder: RoundRecorder, state: dict) -> None:
    """The recorder as checkpointed; metrics.jsonl loses any row of a round the stopped run did not complete."""
    recorder.rows = state["rows"]
    recorder.run.rewrite_metrics(recorder.rows)
    recorder._round = int(state["round"])
    recorder.failed_rounds = {int(r): why for r, why in state["failed_rounds"].items()}
    recorder.partner_failures = {int(r): failures for r, failures in state["partner_failures"].items()}
    for name, fields in state["partners"].items():
        fields["epsilon_by_round"] = {int(r): eps for r, eps in fields["epsilon_by_round"].items()}
        recorder.partners[name] = PartnerState(**fields)
