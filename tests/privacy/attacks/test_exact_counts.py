"""Attack: ask a deployed site's check, pre-flight and training under min-interactions 3, 5, 8, 12, ... and read
the user counts it answers: a per-user activity histogram, unledgered, and with the count public the ledger's
add/remove accounting would no longer match what is released.

Weakened site (answers with its exact count): the answers differ with the filter. Real site: every answer
carries its declared ``expected-users``, whatever the filter, and its DP plan follows from that figure alone.
"""

import json

import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict

from client.app import train
from client.site import resolve_site
from client.site_check import check_site
from recmodel.data.federated import declared_model_spec
from recmodel.data.schema import user_attribute_columns
from recmodel.data.synthetic import SyntheticSpec, generate_events
from recmodel.model.bundle import Recommender
from simulations.defaults import app_config_values, default_run_config
from tests.conftest import TINY
from tests.privacy.attacks.conftest import REFERENCE_TIME

DECLARED = 500
FILTERS = (3, 8, 16)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    events = generate_events(SyntheticSpec(users=300, items=60, categories=6, partners=1, seed=4))
    events.drop(columns=["latent_favourites"]).to_parquet(folder / "events.parquet")
    events[["item_id", "category", "price"]].drop_duplicates("item_id").to_parquet(folder / "catalogue.parquet")
    attributes = ",".join(user_attribute_columns(events.drop(columns=["latent_favourites"])))
    return folder, attributes


def _context(folder, attributes, min_interactions: int) -> Context:
    values = app_config_values()
    values.update({key.replace("_", "-"): value for key, value in TINY.items()})
    values.update({"item-buckets": 256, "user-attributes": attributes, "min-interactions": min_interactions,
                   "num-server-rounds": 1, "popularity-prior": True})
    node = {"data-path": str(folder / "events.parquet"), "catalogue-path": str(folder / "catalogue.parquet"),
            "state-dir": str(folder / f"state-{min_interactions}"),
            "partner-name": "shop", "max-epsilon": 10.0, "expected-users": DECLARED}
    return Context(run_id=1, node_id=7, node_config=node, state=RecordDict(), run_config=values)


def test_the_weakened_site_would_answer_a_histogram(shop):
    folder, attributes = shop
    counts = [len(resolve_site(c, default_run_config(**{**TINY, **_typed(c.run_config)}), "").users)
              for c in (_context(folder, attributes, m) for m in FILTERS)]
    assert len(set(counts)) == len(FILTERS), counts  # each filter a different exact count


def _typed(run_config: dict) -> dict:
    return {"item_buckets": 256, "user_attributes": run_config["user-attributes"],
            "min_interactions": run_config["min-interactions"]}


@pytest.mark.parametrize("min_interactions", FILTERS)
def test_the_real_site_answers_its_declared_population_whatever_the_filter(shop, min_interactions):
    folder, attributes = shop
    context = _context(folder, attributes, min_interactions)
    config = default_run_config(**{**TINY, **_typed(context.run_config), "num_server_rounds": 1,
                                   "popularity_prior": True})
    assert check_site(context, config)["users"] == DECLARED

    spec = declared_model_spec(config)
    replies = {}
    for phase, server_round in (("preflight", 0), ("", 1)):
        settings = ConfigRecord({"run-dir": "", "run-id": f"counts-{min_interactions}", "server-round": server_round,
                                 "model-spec": json.dumps(spec.to_dict()), "reference-time": REFERENCE_TIME,
                                 **({"phase": phase} if phase else {})})
        message = Message(RecordDict({"arrays": ArrayRecord(Recommender(spec).state_dict()), "config": settings}),
                          dst_node_id=7, message_type=MessageType.TRAIN)
        reply = train(message, context)
        assert not reply.has_error(), reply.error
        replies[phase or "train"] = reply.content["metrics"]
        head = json.loads(reply.content["partner"]["head-record"])  # the signed head the coordinator keeps
        assert head["population"] == DECLARED
    assert replies["preflight"]["examples"] == DECLARED
    assert replies["train"]["num-examples"] == DECLARED
    assert replies["train"]["sample-rate"] == replies["preflight"]["sample-rate"]  # a function of DECLARED alone
