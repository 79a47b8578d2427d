"""Attack: a model spec one attribute row short, so that only a site holding the target user raises.

Weakened site (builds the model from whatever spec it receives): scoring D raises IndexError, scoring D' does
not; Flower would send the exception's class and text back, before any ledger entry, for free. Real site: the
spec is compared with the site's own before any data is read; D and D' get the same refusal, byte for byte.
"""

import numpy as np
import pytest
from flwr.app import MessageType

from client.app import evaluate, train
from recmodel.data.hashing import hash_to_buckets
from recmodel.data.federated import load_federated_data
from recmodel.model.bundle import BundleSpec, Recommender
from recmodel.model.dlrm import ModelSpec
from recmodel.private_evaluation import per_user_ranking
from recmodel.privacy.site_log import REFUSED_CODE, REFUSED_REASON, refusals
from simulations.defaults import default_run_config
from tests.conftest import TINY
from tests.privacy.attacks.conftest import call_site, expected_spec, reply_bytes, write_site_data

BUCKETS = 32  # the run config's attribute-buckets


def _give_target_the_last_row(events):
    """Make the first user's region hash to row BUCKETS - 1, a row no other user holds in any attribute."""
    target = events["user_id"].iloc[0]
    others = events[events["user_id"] != target]
    columns = [c for c in events.columns if c.startswith("user_") and c != "user_id"]
    used = max(int(hash_to_buckets(others[c].to_numpy(), BUCKETS).max()) for c in columns)
    assert used < BUCKETS - 1, "the synthetic attributes already use the last row"
    value = next(v for v in range(1000, 100_000) if hash_to_buckets(np.array([v]), BUCKETS)[0] == BUCKETS - 1)
    events.loc[events["user_id"] == target, "user_region"] = value
    return target


@pytest.fixture
def data(tmp_path):
    return write_site_data(tmp_path / "data", _give_target_the_last_row)


def _short_spec(dataset) -> BundleSpec:
    honest = expected_spec(dataset)
    return BundleSpec(ModelSpec(**{**honest.dlrm.to_dict(), "attribute_buckets": BUCKETS - 1}), honest.profile)


def test_the_weakened_site_raises_only_when_the_target_is_present(data):
    config = default_run_config(**{**TINY, "dataset": str(data.with_target)})
    model = Recommender(_short_spec(data.with_target))
    with_target = load_federated_data(config, num_partitions=1)
    with pytest.raises(IndexError):
        per_user_ranking(model, with_target.catalogue, with_target.users, config)
    without = load_federated_data(config.replace(dataset=str(data.without_target)), num_partitions=1)
    per_user_ranking(model, without.catalogue, without.users, config)  # no error: the oracle answers


@pytest.mark.parametrize("handler, message_type", [(train, MessageType.TRAIN), (evaluate, MessageType.EVALUATE)])
def test_the_real_site_refuses_both_alike_before_touching_data(data, tmp_path, handler, message_type):
    replies = {}
    for name, dataset in (("with", data.with_target), ("without", data.without_target)):
        spec = _short_spec(dataset)
        run_dir = tmp_path / name
        reply = call_site(handler, dataset=dataset, run_dir=run_dir, spec=spec, arrays=Recommender(spec).state_dict(),
                          message_type=message_type)
        assert reply.has_error() and (reply.error.code, reply.error.reason) == (REFUSED_CODE, REFUSED_REASON)
        state = run_dir / "partners" / "partner-0"
        assert not (state / "ledger.jsonl").exists()  # refused before any release
        logged = refusals(state, "attack")
        assert [r["kind"] for r in logged] == ["invalid-message"]
        assert "dlrm.attribute_buckets: 31 (expected 32)" in logged[0]["detail"]
        replies[name] = reply_bytes(reply)
    assert replies["with"] == replies["without"]


def test_refusals_are_rate_limited_per_run(data, tmp_path):
    """Retrying a crafted message is not free: from the 4th refusal of a run on, the site refuses unread."""
    spec = _short_spec(data.with_target)
    replies = [call_site(train, dataset=data.with_target, run_dir=tmp_path, spec=spec,
                         arrays=Recommender(spec).state_dict()) for _ in range(5)]
    assert len({reply_bytes(r) for r in replies}) == 1  # one answer throughout
    kinds = [r["kind"] for r in refusals(tmp_path / "partners" / "partner-0", "attack")]
    assert kinds == ["invalid-message"] * 3 + ["rate-limited"] * 2
