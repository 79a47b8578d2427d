"""A site answers a repeated request with the release it kept, and refuses a round whose release it lost."""

from __future__ import annotations

import pytest
import torch
from flwr.app import ArrayRecord, MetricRecord, RecordDict
from flwr.common.serde import recorddict_to_proto

from client.release_replay import ReleaseReplay
from recmodel.model.bundle import Recommender
from recmodel.privacy.ledger import LedgerIntegrityError
from recmodel.training.private_round import run_private_round


def test_a_kept_release_comes_back_byte_for_byte(tmp_path):
    replay = ReleaseReplay(tmp_path, "run#1")
    assert replay.recall(3, "train") is None
    content = RecordDict({"arrays": ArrayRecord({"w": torch.randn(4, 3)}), "metrics": MetricRecord({"epsilon": 2.5})})
    replay.keep(3, "train", content)
    again = ReleaseReplay(tmp_path, "run#1").recall(3, "train")
    assert torch.equal(again["arrays"].to_torch_state_dict()["w"], content["arrays"].to_torch_state_dict()["w"])
    assert again["metrics"]["epsilon"] == 2.5
    assert ReleaseReplay(tmp_path, "run#1").recall(3, "evaluate") is None  # another phase
    assert ReleaseReplay(tmp_path, "run#2").recall(3, "train") is None  # another run


def test_a_round_recorded_in_the_ledger_but_not_kept_is_refused_not_released_again(
        tmp_path, tiny_config, tiny_data, tiny_spec):
    replay = ReleaseReplay(tmp_path, "run#1")
    assert replay.recall(1, "train") is None  # marks the release as under way
    run_private_round(Recommender(tiny_spec), tiny_data.catalogue, tiny_data.site_users(0), tiny_config,
                      state_dir=tmp_path, partner="partner-0", run_id="run#1", server_round=1,
                      max_epsilon=tiny_config.max_epsilon)  # recorded in the ledger ... then the site crashed
    with pytest.raises(LedgerIntegrityError, match="recorded this release in its ledger but did not keep"):
        ReleaseReplay(tmp_path, "run#1").recall(1, "train")


def test_a_release_abandoned_before_anything_was_recorded_may_be_made(tmp_path):
    assert ReleaseReplay(tmp_path, "run#1").recall(2, "evaluate") is None
    assert ReleaseReplay(tmp_path, "run#1").recall(2, "evaluate") is None  # the ledger did not grow: no refusal


def test_a_kept_reply_edited_on_disk_is_refused_not_sent(tmp_path):
    replay = ReleaseReplay(tmp_path, "run#1")
    assert replay.recall(2, "evaluate") is None
    replay.keep(2, "evaluate", RecordDict({"metrics": MetricRecord({"ndcg-sum": 3.0})}))
    kept = next(tmp_path.glob("releases/*/round-2-evaluate.pb"))
    doctored = RecordDict({"metrics": MetricRecord({"ndcg-sum": 9.0})})
    kept.write_bytes(recorddict_to_proto(doctored).SerializeToString())
    with pytest.raises(LedgerIntegrityError, match="does not match its MAC"):
        ReleaseReplay(tmp_path, "run#1").recall(2, "evaluate")
    kept.write_bytes(recorddict_to_proto(RecordDict({"metrics": MetricRecord({"ndcg-sum": 3.0})}))
                     .SerializeToString()[:-3])  # truncated, as by a crash or a full disk while it was written
    with pytest.raises(LedgerIntegrityError, match="does not match its MAC"):
        ReleaseReplay(tmp_path, "run#1").recall(2, "evaluate")
    kept.with_suffix(".mac").unlink()
    with pytest.raises(LedgerIntegrityError, match="has no readable MAC"):
        ReleaseReplay(tmp_path, "run#1").recall(2, "evaluate")
