"""Neighbouring data sets: D and D' = D without one user, at one site with the simulation's public catalogue.

DP-SGD's and the Gaussian mechanisms' accounting assumes that removing one user changes only that user's
contribution. For every release kind (profile model, DLRM, item counts, evaluation) the other users'
per-user contributions must be identical in D and D'. The attack this rules out needs nothing special from the
coordinator: with recency measured against the site's latest event (the weakened site below), removing the
user who acted last changes every other user's features.
"""

import numpy as np
import pytest
import torch

from recmodel.data.declared_catalogue import events_in_catalogue
from recmodel.data.federated import load_federated_data, model_spec_for
from recmodel.data.interactions import split_leave_last_out
from recmodel.data.profile_examples import held_out_users, profile_training_examples
from recmodel.data.profile_features import summarise
from recmodel.model.bundle import Recommender, site_profiles
from recmodel.private_evaluation import per_user_ranking
from recmodel.data.synthetic import SyntheticSpec, generate_events
from recmodel.privacy.item_counts import item_count_sums
from recmodel.training.release_plan import dlrm_training_examples
from simulations.defaults import default_run_config
from tests.conftest import TINY

SECRET_AND_ROUND = [123456789, 3]


def _neighbours(seed: int, target: str = "random"):
    """(config, catalogue, D, D', removed user id) for a synthetic site drawn with ``seed``."""
    config = default_run_config(**{**TINY, "profiles": True, "seed": seed, "synthetic_users": 150})
    config = config.replace(reference_time=2e9)
    data = load_federated_data(config, num_partitions=1)
    users = data.site_users(0)
    if target == "latest":  # the user who acted last
        last = users.train_offsets[1:] - 1
        removed = int(np.argmax(np.where(np.diff(users.train_offsets) > 0, users.train_times[last], -np.inf)))
    else:
        removed = int(np.random.default_rng(seed).integers(len(users)))
    others = np.delete(np.arange(len(users)), removed)
    return config, data, users, users.subset(others), str(users.user_ids[removed])


def _by_user(users, rows: np.ndarray, values) -> dict:
    return {str(users.user_ids[u]): values[i] for i, u in enumerate(rows)}


def _assert_others_identical(with_target: dict, without: dict, removed: str, what: str) -> None:
    assert set(with_target) - {removed} == set(without), what
    for user, value in without.items():
        got = with_target[user]
        if isinstance(value, tuple):
            assert all(torch.equal(a, b) for a, b in zip(got, value)), f"{what}: user {user}"
        else:
            assert np.array_equal(np.asarray(got), np.asarray(value)), f"{what}: user {user}"


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("target", ["random", "latest"])
def test_every_release_kind_depends_on_each_user_alone(seed, target):
    config, data, d, d_prime, removed = _neighbours(seed, target)
    torch.manual_seed(seed)
    model = Recommender(model_spec_for(config, data))

    def profile_rows(users):
        examples = profile_training_examples(data.catalogue, users, category_buckets=config.category_buckets,
                                             attribute_buckets=config.attribute_buckets,
                                             reference_time=config.reference_time)
        rows = np.flatnonzero(~held_out_users(users))
        return _by_user(users, rows, [tuple(t[i] for t in examples.tensors) for i in range(len(rows))])
    _assert_others_identical(profile_rows(d), profile_rows(d_prime), removed, "profile examples")

    def dlrm_examples(users):
        examples = dlrm_training_examples(data.catalogue, users, config, seed=SECRET_AND_ROUND,
                                          item_prior=model.dlrm.item_prior.numpy())
        examples.attach_profiles(site_profiles(model, data.catalogue, users, config))
        order = np.random.default_rng(seed).permutation(len(examples))  # fetched in any order
        fetched = {int(i): examples[int(i)] for i in order}
        return _by_user(users, examples.example_user, [fetched[i] for i in range(len(examples))])
    _assert_others_identical(dlrm_examples(d), dlrm_examples(d_prime), removed, "DLRM examples")

    def evaluation(users):
        per_user = per_user_ranking(model, data.catalogue, users, config)
        return _by_user(users, np.arange(len(users)), np.column_stack([per_user["ndcg"], per_user["hr"]]))
    _assert_others_identical(evaluation(d), evaluation(d_prime), removed, "evaluation")

    recent = config.popularity_recent_items
    only_removed = d.subset(np.flatnonzero(d.user_ids == removed))
    difference = item_count_sums(data.catalogue, d, recent=recent) - item_count_sums(data.catalogue, d_prime,
                                                                                        recent=recent)
    np.testing.assert_allclose(difference, item_count_sums(data.catalogue, only_removed, recent=recent), atol=1e-9)
    assert np.linalg.norm(difference) <= 1 + 1e-9


def test_the_weakened_site_ties_every_users_recency_to_the_latest_event():
    config, data, d, d_prime, removed = _neighbours(0, "latest")

    def features(users, reference):
        inputs = summarise(data.catalogue, users, category_buckets=config.category_buckets,
                           attribute_buckets=config.attribute_buckets, reference_time=reference)
        return _by_user(users, np.arange(len(users)), inputs.features)

    weakened = [features(users, float(users.train_times.max())) for users in (d, d_prime)]
    changed = [u for u in weakened[1] if not np.array_equal(weakened[0][u], weakened[1][u])]
    assert len(changed) > len(weakened[1]) // 2  # the site's own latest event moved: most users' rows changed
    real = [features(users, config.reference_time) for users in (d, d_prime)]
    _assert_others_identical(*real, removed, "profile features")


def test_a_deployed_sites_item_space_is_declared_not_its_users_items(tmp_path):
    """Weakened site (catalogue = its users' items): a user with an item nobody else has changes every other
    user's negatives. Real site (``catalogue-path``): the declared catalogue, the same with or without them."""
    events = generate_events(SyntheticSpec(users=60, items=40, categories=5, partners=1, seed=2))
    target = events["user_id"].iloc[0]
    events.loc[events.index[0], "item_id"] = "only-the-target-has-this"
    declared = events[["item_id", "category", "price"]].drop_duplicates("item_id").reset_index(drop=True)
    config = default_run_config(**{**TINY, "item_buckets": 256, "negative_sampling": "uniform"})

    def negatives_of_others(frame, items):
        if items is not None:
            frame, _ = events_in_catalogue(frame, items)
        split = split_leave_last_out(frame, item_buckets=256, category_buckets=config.category_buckets,
                                     attribute_buckets=config.attribute_buckets, items=items)
        examples = dlrm_training_examples(split.catalogue, split.users, config, seed=SECRET_AND_ROUND)
        candidates = [examples[i][5] for i in range(len(examples))]  # candidate item rows [L]
        return {str(split.users.user_ids[u]): candidates[i].numpy()
                for i, u in enumerate(examples.example_user) if split.users.user_ids[u] != target}

    without = events[events["user_id"] != target]
    weakened = negatives_of_others(events, None), negatives_of_others(without, None)
    assert any(not np.array_equal(weakened[0][u], weakened[1][u]) for u in weakened[1])
    real = negatives_of_others(events, declared), negatives_of_others(without, declared)
    assert real[0].keys() == real[1].keys()
    assert all(np.array_equal(real[0][u], real[1][u]) for u in real[1])
