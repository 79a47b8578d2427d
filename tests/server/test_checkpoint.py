"""The coordinator's checkpoint: what resume-from restores, and the runs it refuses to resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from flwr.serverapp.strategy import FedAdam, FedAvg

from recmodel.config import ConfigError
from recmodel.errors import DataError
from server.checkpoint import (Checkpoint, check_resumable, load_checkpoint, recorder_state, restore_recorder,
                               restore_strategy_state, save_checkpoint, strategy_state)
from server.recorder import PartnerState, RoundRecorder
from server.run_directory import RunDirectory


def _recorder(path) -> RoundRecorder:
    recorder = RoundRecorder(run=RunDirectory(path), top_k=10, baseline={"ndcg@10": 0.1})
    recorder.partners["a"] = PartnerState("a", node_id=7, epsilon=1.5, epsilon_by_round={1: 1.0, 2: 1.5})
    recorder.partner_failures = {2: {"b": "node unavailable"}}
    recorder.rows = [{"round": r, "central": None, "federated": None, "partners": {}, "epsilon": {}} for r in (0, 1, 2)]
    recorder._round = 2
    return recorder


def test_a_checkpoint_round_trips_weights_fedadam_moments_and_the_recorder(tmp_path, tiny_config):
    adam = FedAdam()
    arrays = {"w": torch.randn(3, 2)}
    adam.current_arrays = {"w": arrays["w"].numpy()}
    adam.m_t, adam.v_t = {"w": arrays["w"].numpy() * 0.1}, {"w": arrays["w"].numpy() ** 2}
    save_checkpoint(tmp_path, Checkpoint(2, arrays, strategy_state(adam), "run#9", tiny_config.to_mapping(),
                                         recorder_state(_recorder(tmp_path)), {"popularity": {}}, None))
    loaded = load_checkpoint(tmp_path)
    assert loaded.server_round == 2 and loaded.ledger_run_id == "run#9" and torch.equal(loaded.arrays["w"], arrays["w"])
    resumed = FedAdam()
    restore_strategy_state(resumed, loaded.strategy_state)
    assert (resumed.v_t["w"] == adam.v_t["w"]).all() and (resumed.m_t["w"] == adam.m_t["w"]).all()
    recorder = RoundRecorder(run=RunDirectory(tmp_path), top_k=10, baseline={})
    (tmp_path / "metrics.jsonl").write_text("{}\n" * 4)  # a stopped run wrote a row for round 3 it never finished
    restore_recorder(recorder, loaded.recorder)
    assert recorder.partners["a"].epsilon_by_round == {1: 1.0, 2: 1.5} and recorder._round == 2
    assert recorder.partner_failures == {2: {"b": "node unavailable"}}
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3
    assert strategy_state(FedAvg()) == {}


def test_resume_refuses_a_changed_config_a_finished_run_and_a_missing_checkpoint(tmp_path, tiny_config):
    with pytest.raises(DataError, match="completed no round"):
        load_checkpoint(tmp_path)
    checkpoint = Checkpoint(1, {}, {}, "r", tiny_config.to_mapping(), {}, {}, None)
    check_resumable(checkpoint, tiny_config.replace(resume_from=str(tmp_path)), tmp_path)  # only resume-from differs
    with pytest.raises(ConfigError, match=r"changed: learning-rate \(was 0.01, now 0.5\)"):
        check_resumable(checkpoint, tiny_config.replace(learning_rate=0.5), tmp_path)
    done = Checkpoint(tiny_config.num_server_rounds, {}, {}, "r", tiny_config.to_mapping(), {}, {}, None)
    with pytest.raises(ConfigError, match="already completed all 2 rounds"):
        check_resumable(done, tiny_config, tmp_path)


class _RunsCode:
    """Unpickling this would create a file: a crafted checkpoint must be refused before that."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("payload", ["crafted", "not-a-dict", "garbage", "empty"])
def test_a_crafted_or_damaged_checkpoint_is_one_named_error_and_runs_nothing(tmp_path, payload):
    folder = tmp_path / "run" / "checkpoint"
    folder.mkdir(parents=True)
    target, marker = folder / "checkpoint.pt", tmp_path / "pwned"
    if payload == "crafted":
        torch.save({"arrays": _RunsCode(marker)}, target)
    elif payload == "not-a-dict":
        torch.save([1, 2, 3], target)
    elif payload == "garbage":
        target.write_bytes(b"\x00 not a checkpoint " * 20)
    else:
        target.write_bytes(b"")
    with pytest.raises(DataError, match="resume-from: cannot read the checkpoint") as caught:
        load_checkpoint(tmp_path / "run")
    assert not marker.exists() and "\n" not in str(caught.value)
