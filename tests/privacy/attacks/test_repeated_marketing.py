"""A coordinator that asks for the marketing figures again gets the same release, never a second one."""

from flwr.app import MessageType

from client.app import evaluate
from client.refusal import REFUSED_CODE, REFUSED_REASON
from recmodel.privacy.ledger import PrivacyLedger
from tests.privacy.attacks.conftest import call_site, expected_spec, initial_weights, reply_bytes, write_site_data


def test_the_marketing_release_is_made_once_per_run(tmp_path):
    data = write_site_data(tmp_path / "data", lambda events: events["user_id"].iloc[0])
    spec = expected_spec(data.with_target)

    def ask(server_round: int, seed: int = 0):
        return call_site(evaluate, dataset=data.with_target, run_dir=tmp_path / "run", spec=spec,
                         arrays=initial_weights(spec, seed), message_type=MessageType.EVALUATE,
                         server_round=server_round, phase="marketing")

    first = ask(0)
    assert not first.has_error(), first.error
    metrics = first.content["metrics"]
    assert {"segment-0:count", "segment-2:recall@10-sum", "noise-std", "epsilon"} <= set(metrics)
    state = tmp_path / "run" / "partners" / "partner-0"
    assert [e["model"] for e in PrivacyLedger.at_site(state).entries()] == ["evaluation"]
    again = ask(0, seed=1)  # other weights, same request: the kept release, not a fresh one on new weights
    assert dict(again.content["metrics"]) == dict(metrics)
    other_round = ask(3)
    assert other_round.has_error() and (other_round.error.code, other_round.error.reason) == (REFUSED_CODE,
                                                                                              REFUSED_REASON)
    assert len(PrivacyLedger.at_site(state).entries()) == 1
    assert reply_bytes(other_round) == reply_bytes(call_site(evaluate, dataset=data.with_target,
                                                             run_dir=tmp_path / "other", spec={"broken": 1},
                                                             arrays={}, message_type=MessageType.EVALUATE))
