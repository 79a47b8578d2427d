"""The round table: a federated figure carries its noise std, and is marked when the noise reaches it."""

from server.checkpoint import recorder_state, restore_recorder
from server.recorder import PartnerState, RoundRecorder
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


def test_a_partner_left_out_makes_the_run_degraded_and_is_named(tmp_path):
    recorder = RoundRecorder(run=RunDirectory(tmp_path), top_k=10, baseline={})
    assert recorder.outcome(min_partners=1) == ("succeeded", "")
    recorder.partners["partner-1"] = PartnerState("partner-1", node_id=5)
    recorder.partner_left_out(2, 5, "ledger-integrity: partner 'partner-1': ledger entry 3 differs", "ledger-integrity")
    status, notes = recorder.outcome(min_partners=1)
    assert status == "degraded" and notes == "; left out: partner-1 (ledger-integrity, round 2)"
    assert recorder.left_out()["partner-1"]["reason"].startswith("ledger-integrity")
    restored = RoundRecorder(run=RunDirectory(tmp_path), top_k=10, baseline={})  # what a resumed run holds
    restore_recorder(restored, recorder_state(recorder))
    assert restored.outcome(min_partners=1)[0] == "degraded"
