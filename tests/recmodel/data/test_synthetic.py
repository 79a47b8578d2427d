import numpy as np
import pandas as pd

from recmodel.data.schema import EVENT_TYPES, REQUIRED_COLUMNS
from recmodel.data.synthetic import SyntheticSpec, generate_events, generate_event_chunks, synthetic_catalogue

SPEC = SyntheticSpec(users=300, items=120, categories=8, partners=3, seed=7)


def test_same_spec_gives_identical_events():
    pd.testing.assert_frame_equal(generate_events(SPEC), generate_events(SPEC))


def test_another_seed_gives_other_events():
    other = generate_events(SyntheticSpec(**{**SPEC.__dict__, "seed": 8}))
    assert not generate_events(SPEC)["item_id"].equals(other["item_id"])


def test_schema_and_event_vocabulary():
    events = generate_events(SPEC)
    assert set(REQUIRED_COLUMNS) <= set(events.columns)
    assert set(events["event"]) <= set(EVENT_TYPES)
    assert {"partner_id", "category", "price", "user_age_group"} <= set(events.columns)
    assert events["user_id"].nunique() == SPEC.users


def test_partners_have_disjoint_users_and_different_category_mixes():
    events = generate_events(SPEC)
    partners_per_user = events.groupby("user_id")["partner_id"].nunique()
    assert (partners_per_user == 1).all()
    mix = pd.crosstab(events["partner_id"], events["category"], normalize="index").to_numpy()
    total_variation = 0.5 * np.abs(mix[:, None, :] - mix[None, :, :]).sum(-1)
    assert total_variation[np.triu_indices(SPEC.partners, 1)].min() > 0.2


def test_popularity_is_skewed():
    counts = generate_events(SPEC).drop_duplicates(["user_id", "item_id"])["item_id"].value_counts()
    top_decile = counts.iloc[: len(counts) // 10].sum() / counts.sum()
    assert top_decile > 0.25  # uniform popularity would give about 0.10


def test_chunks_share_one_item_set_and_run_user_ids_on():
    spec = SyntheticSpec(users=250, items=120, partners=1, seed=3)
    chunks = list(generate_event_chunks(spec, users_per_chunk=100))
    assert [c["user_id"].nunique() for c in chunks] == [100, 100, 50]
    ids = [set(c["user_id"]) for c in chunks]
    assert not (ids[0] & ids[1]) and not (ids[1] & ids[2])
    assert min(ids[1]) == "u000100" and max(ids[2]) == "u000249"
    catalogue = synthetic_catalogue(spec).set_index("item_id")
    assert len(catalogue) == 120
    for chunk in chunks:  # every chunk's items carry the catalogue's category and price
        listed = catalogue.loc[chunk["item_id"]]
        assert (listed["category"].to_numpy() == chunk["category"].to_numpy()).all()
        assert (listed["price"].to_numpy() == chunk["price"].to_numpy()).all()
    assert not chunks[0].drop(columns="user_id").head(50).equals(chunks[1].drop(columns="user_id").head(50))
