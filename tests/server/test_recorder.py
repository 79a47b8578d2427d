"""The round table: a federated figure carries its noise std, and is marked when the noise reaches it."""

from server.recorder import RoundRecorder
from server.run_directory import RunDirectory


def _row(federated):
    return {"round": 1, "central": {"ndcg@10": 0.02, "hr@10": 0.05}, "federated": federated, "partners": {"a": {}},
            "epsilon_max": 4.0}


def test_a_federated_figure_is_printed_with_its_std_and_marked_when_unreadable(tmp_path):
    recorder = RoundRecorder(run=RunDirectory(tmp_path), top_k=10, baseline={})
    readable = recorder.format_row(_row({"ndcg@10": 0.1132, "ndcg@10-std": 0.0049}))
    assert "0.1132±0.0049 |" in readable and "?" not in readable
    noise = recorder.format_row(_row({"ndcg@10": 0.0467, "ndcg@10-std": 0.127}))
    assert "0.0467±0.1270? |" in noise
    assert "'?': within two stds of zero" in recorder.header()
