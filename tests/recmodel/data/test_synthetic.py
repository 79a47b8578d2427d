import numpy as np
import pandas as pd

from recmodel.data.schema import EVENT_TYPES, REQUIRED_COLUMNS
from recmodel.data.synthetic import SyntheticSpec, generate_events

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
