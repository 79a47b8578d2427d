"""The selected model: the round with the best validation NDCG, kept on disk, the others pruned at the end."""

import torch

from recmodel.model.bundle import Recommender
from recmodel.model.model_file import load_model, save_model
from server.model_selection import best_round, is_new_best, selected_folder, selection_summary


def _row(server_round, valid, test=0.1):
    return {"round": server_round, "central": {"valid-ndcg@10": valid, "ndcg@10": test, "hr@10": 2 * test}}


def test_the_best_validation_round_wins_and_ties_keep_the_earliest():
    rows = [_row(0, 0.02), _row(1, 0.05, test=0.01), _row(2, 0.05, test=0.09), _row(3, 0.04)]
    assert best_round(rows, 10)["round"] == 1  # the test figure plays no part
    assert not is_new_best(rows, {"valid-ndcg@10": 0.05}, 10)
    assert is_new_best(rows, {"valid-ndcg@10": 0.051}, 10)
    assert is_new_best([], {"valid-ndcg@10": 0.0}, 10)


def test_without_central_evaluation_nothing_is_selected(tmp_path):
    rows = [{"round": 0, "central": None}, {"round": 1, "central": None}]
    assert best_round(rows, 10) is None and not is_new_best(rows, None, 10)
    assert selection_summary(tmp_path, rows, 10) is None


def test_summary_keeps_only_the_selected_rounds_weights(tmp_path, tiny_spec):
    spec, model = tiny_spec, Recommender(tiny_spec)
    for server_round in (0, 2):  # saved as each beat the rounds before it
        save_model(selected_folder(tmp_path, server_round), model.state_dict(), spec, {"seed": server_round})
    rows = [_row(0, 0.02), _row(1, 0.01), _row(2, 0.03, test=0.04)]
    summary = selection_summary(tmp_path, rows, 10)
    assert summary["round"] == 2 and summary["ndcg@10"] == 0.04 and summary["valid-ndcg@10"] == 0.03
    assert summary["model"] == "selected/round-2"
    assert [p.name for p in (tmp_path / "selected").iterdir()] == ["round-2"]
    loaded = load_model(tmp_path / summary["model"])
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], tensor)
