"""A simulated site as a malicious coordinator meets it: real ClientApp handlers, real Messages and Contexts.

``site_data`` writes two events files in the project's schema that differ in one user, the target (D with it,
D' without), so that an attack's reply can be compared with and without the user it tries to detect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common.serde import error_to_proto

from recmodel.data.federated import load_federated_data, model_spec_for
from recmodel.data.synthetic import SyntheticSpec, generate_events
from recmodel.model.bundle import BundleSpec, Recommender
from simulations.defaults import app_config_values, default_run_config
from tests.conftest import TINY

REFERENCE_TIME = 2e9


@pytest.fixture(autouse=True)
def node_identity(flower_node_identity):
    """Every attack calls the ClientApp's handlers as a SuperNode would."""




@dataclass(frozen=True)
class SiteData:
    with_target: Path
    without_target: Path
    target: str  # the target's user id


def write_site_data(folder: Path, choose_target) -> SiteData:
    """Events of 80 synthetic users; ``choose_target(events) -> user id`` picks the user D' lacks."""
    events = generate_events(SyntheticSpec(users=80, items=40, categories=6, partners=1, seed=3))
    events = events.drop(columns=["latent_favourites"])
    target = str(choose_target(events))
    folder.mkdir(parents=True, exist_ok=True)
    with_target, without_target = folder / "with.parquet", folder / "without.parquet"
    events.to_parquet(with_target)
    events[events["user_id"] != target].to_parquet(without_target)
    return SiteData(with_target, without_target, target)


def run_config(dataset: Path, **overrides) -> dict:
    values = app_config_values()
    values.update({key.replace("_", "-"): value for key, value in TINY.items()})
    values.update({"dataset": str(dataset), "synthetic-users": 80, **overrides})
    return values


def expected_spec(dataset: Path, **overrides) -> BundleSpec:
    """The spec an honest coordinator sends for ``dataset`` (one simulated site)."""
    config = default_run_config(**{**TINY, "dataset": str(dataset), **overrides})
    return model_spec_for(config, load_federated_data(config, num_partitions=1))


def call_site(handler, *, dataset: Path, run_dir: Path, spec: BundleSpec | dict, arrays: dict,
              message_type=MessageType.TRAIN, server_round: int = 1, phase: str | None = None, **overrides) -> Message:
    """One message from the coordinator to simulated site 0 of 1, whose data is ``dataset``."""
    spec_dict = spec.to_dict() if isinstance(spec, BundleSpec) else spec
    settings = ConfigRecord({"run-dir": str(run_dir), "run-id": "attack", "server-round": server_round,
                             "model-spec": json.dumps(spec_dict), "reference-time": REFERENCE_TIME,
                             **({"phase": phase} if phase else {})})
    message = Message(RecordDict({"arrays": ArrayRecord(arrays), "config": settings}), dst_node_id=7,
                      message_type=message_type)
    context = Context(run_id=1, node_id=7, node_config={"partition-id": 0, "num-partitions": 1},
                      state=RecordDict(), run_config=run_config(dataset, **overrides))
    return handler(message, context)


def reply_bytes(reply: Message) -> bytes:
    """What the coordinator receives of a refusal: the error record, serialised."""
    return error_to_proto(reply.error).SerializeToString()


def initial_weights(spec: BundleSpec, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return Recommender(spec).state_dict()
