"""A deployed site's check before a run: pass, or fail with the reason, against the declared schema."""

from __future__ import annotations

import pandas as pd
from flwr.app import Context, RecordDict

from client.site_check import check_site
from recmodel.data.synthetic import SyntheticSpec, generate_events
from recmodel.data.schema import user_attribute_columns
from simulations.defaults import default_run_config


def _deployed(tmp_path, events_path, **extra) -> Context:
    """A deployed site over ``events_path``, its declared catalogue every item of a 50-item synthetic shop."""
    catalogue = tmp_path / "catalogue.parquet"
    if not catalogue.exists():
        pd.DataFrame({"item_id": [f"i{i:06d}" for i in range(50)]}).to_parquet(catalogue)
    node = {"data-path": str(events_path), "catalogue-path": str(catalogue), "state-dir": str(tmp_path / "state"),
            "partner-name": "shop-a", "max-epsilon": 10.0, "expected-users": 300, **extra}
    return Context(run_id=1, node_id=5, node_config=node, state=RecordDict(), run_config={})


def test_a_site_matching_the_declared_schema_passes_and_one_that_does_not_is_told_why(tmp_path):
    events = generate_events(SyntheticSpec(users=200, items=50, categories=5, partners=1, seed=1))
    path = tmp_path / "events.parquet"
    events.to_parquet(path)
    attributes = ",".join(user_attribute_columns(events))
    declared = default_run_config(item_buckets=256, user_attributes=attributes)
    answer = check_site(_deployed(tmp_path, path), declared)
    assert answer["passed"] and not answer["simulated"] and answer["partner"] == "shop-a"
    assert answer["users"] == 300  # the declared population, not the file's 200 users

    answer = check_site(_deployed(tmp_path, path), declared.replace(user_attributes=""))
    assert not answer["passed"]
    assert "partner 'shop-a': its events file has user attribute columns" in answer["reason"]
    assert "the declared schema (run config user-attributes) has []" in answer["reason"]

    answer = check_site(_deployed(tmp_path, path), declared.replace(item_buckets=0))
    assert not answer["passed"] and "a deployment needs item-buckets > 0" in answer["reason"]

    answer = check_site(_deployed(tmp_path, tmp_path / "missing.parquet"), declared)
    assert not answer["passed"] and "missing.parquet" in answer["reason"]


def test_a_deployed_site_without_a_declared_population_is_told_which_key_to_set(tmp_path):
    events = generate_events(SyntheticSpec(users=60, items=30, categories=5, partners=1, seed=1))
    path = tmp_path / "events.parquet"
    events.to_parquet(path)
    declared = default_run_config(item_buckets=256, user_attributes=",".join(user_attribute_columns(events)))
    for value in (None, 0, 2.5, "many"):
        context = _deployed(tmp_path, path)
        if value is None:
            del context.node_config["expected-users"]
        else:
            context.node_config["expected-users"] = value
        answer = check_site(context, declared)
        assert not answer["passed"] and "--node-config needs expected-users" in answer["reason"]
        assert answer["users"] == 0

