"""A site's policy against a weaker run config: refused before training, nothing sent, ledger unchanged.

These call the real ClientApp handlers with real Flower Messages and Contexts,
as the simulation engine does, at a site whose ledger is already spent up to
its cap of 1.0.
"""

import json

import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict

from client.app import evaluate, train
from recmodel.model.bundle import Recommender
from recmodel.privacy.accounting import epsilon_of
from recmodel.privacy.ledger import DPEvent, PrivacyLedger
from recmodel.privacy.site_log import REFUSED_CODE, REFUSED_REASON, refusals
from simulations.defaults import app_config_values
from tests.conftest import TINY

pytestmark = pytest.mark.usefixtures("flower_node_identity")
SPENT = (3.0, 0.1, 50)  # noise, sample rate, steps already in the ledger: epsilon 0.98 at delta 1e-5


@pytest.fixture
def spent_site(tmp_path, tiny_spec):
    """A simulated partner-0 with policy cap 1.0 and a ledger spent close to it."""
    policy = tmp_path / "sites.toml"
    policy.write_text("[partner-0]\nmax-epsilon = 1.0\ndelta = 1e-5\n")
    state = tmp_path / "run" / "partners" / "partner-0"
    spent = epsilon_of([SPENT], delta=1e-5, accountant="prv")
    assert 0.9 < spent < 1.0
    PrivacyLedger.at_site(state).append(DPEvent(
        run_id="earlier", round=1, model="dlrm", noise_multiplier=SPENT[0], sample_rate=SPENT[1], steps=SPENT[2],
        max_grad_norm=0.5, privacy_unit="user", delta=1e-5, epsilon=spent, accountant="opacus-prv 1.6.0",
        population=60, timestamp=0.0, partner="partner-0", max_epsilon=1.0))
    return policy, state


def _call(handler, spent_site, tiny_spec, message_type, **run_config):
    policy, state = spent_site
    values = app_config_values()
    values.update({key.replace("_", "-"): value for key, value in TINY.items()})
    values.update({"site-policy": str(policy), "max-epsilon": 1.0, **run_config})
    settings = ConfigRecord({"run-dir": str(state.parents[1]), "run-id": "now", "server-round": 1,
                             "model-spec": json.dumps(tiny_spec.to_dict()), "reference-time": 1e9})
    torch.manual_seed(0)
    message = Message(RecordDict({"arrays": ArrayRecord(Recommender(tiny_spec).state_dict()), "config": settings}),
                      dst_node_id=7, message_type=message_type)
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0, "num-partitions": 2}, state=RecordDict(),
                      run_config=values)
    evidence = ("ledger.jsonl", "head.json", "site_key.pem", "site_key.pub")
    before = {name: (state / name).read_bytes() for name in evidence}
    reply = handler(message, context)
    assert {name: (state / name).read_bytes() for name in evidence} == before  # byte-identical
    assert not reply.has_content()  # nothing leaves the site
    return reply


def _logged_reason(spent_site) -> str:
    """The reason the site wrote to its own log for its latest refusal (the reply carries none)."""
    return refusals(spent_site[1], "now")[-1]["detail"]


@pytest.mark.parametrize("request_key, request_value, requested, site_value", [
    ("dp", False, "false", "true"),
    ("privacy-unit", "event", "event", "user"),
    ("target-delta", 1e-4, "0.0001", "1e-05"),
    ("max-epsilon", 2.0, "2", "1"),
])
def test_a_weaker_run_config_is_refused_before_training(spent_site, tiny_spec, request_key, request_value,
                                                        requested, site_value):
    reply = _call(train, spent_site, tiny_spec, MessageType.TRAIN, **{request_key: request_value})
    assert reply.has_error() and (reply.error.code, reply.error.reason) == (REFUSED_CODE, REFUSED_REASON)
    reason = _logged_reason(spent_site)
    assert reason.startswith(f"policy-refused: partner 'partner-0': the run config asks {request_key}={requested}, "
                             f"but the site's privacy policy has {request_key}={site_value}")


def test_an_evaluation_request_is_refused_the_same_way(spent_site, tiny_spec):
    reply = _call(evaluate, spent_site, tiny_spec, MessageType.EVALUATE, **{"target-delta": 1e-3})
    assert reply.has_error() and (reply.error.code, reply.error.reason) == (REFUSED_CODE, REFUSED_REASON)
    assert _logged_reason(spent_site).startswith("policy-refused: partner 'partner-0'")


def test_an_admissible_run_config_still_meets_the_spent_budget(spent_site, tiny_spec):
    """Stricter than the policy (a smaller delta) is admitted; the spent ledger then refuses the round."""
    reply = _call(train, spent_site, tiny_spec, MessageType.TRAIN, **{"target-delta": 1e-6})
    assert reply.has_error() and (reply.error.code, reply.error.reason) == (REFUSED_CODE, REFUSED_REASON)
    assert "above its cap max-epsilon=1" in _logged_reason(spent_site)


def test_without_dp_a_simulated_site_answers_exact_sums(tmp_path, tiny_spec, tiny_data):
    """A simulated site mirroring dp=false sends exact sums in the same keys as a noised answer, and no ledger."""
    values = app_config_values()
    values.update({key.replace("_", "-"): value for key, value in TINY.items()})
    values["dp"] = False
    settings = ConfigRecord({"run-dir": str(tmp_path), "run-id": "now", "server-round": 1,
                             "model-spec": json.dumps(tiny_spec.to_dict()), "reference-time": 1e9})
    message = Message(RecordDict({"arrays": ArrayRecord(Recommender(tiny_spec).state_dict()), "config": settings}),
                      dst_node_id=7, message_type=MessageType.EVALUATE)
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0, "num-partitions": 2}, state=RecordDict(),
                      run_config=values)
    metrics = next(iter(evaluate(message, context).content.metric_records.values()))
    users = len(tiny_data.site_users(0))
    assert metrics["count"] == users and metrics["epsilon"] == -1.0
    assert 0 <= metrics["ndcg-sum"] <= metrics["hr-sum"] <= users
    assert not (tmp_path / "partners" / "partner-0" / "ledger.jsonl").exists()
