"""Training examples mirror the leave-last-out test: the items before a cut predict the items after it."""

import numpy as np

from recmodel.data.examples import TrainingExamples
from recmodel.data.negative_sampling import NegativeSampler
from recmodel.data.interactions import split_leave_last_out, with_trained_rows
from recmodel.data.synthetic import SyntheticSpec, generate_events


def _fields(example):
    names = ("user_dense", "attributes", "history_items", "history_categories", "history_mask", "candidate_items",
             "candidate_categories", "candidate_dense", "labels", "label_mask", "profile", "offsets")
    return dict(zip(names, example))


def test_user_examples_take_the_history_before_a_cut_and_the_next_items_as_positives(tiny_data, tiny_config):
    users = tiny_data.site_users(0)
    examples = TrainingExamples(tiny_data.catalogue, users, history_length=50, positives_per_user=3,
                                negatives_per_positive=2, seed=5)
    rows = tiny_data.catalogue.item_rows
    for index in range(20):
        user = int(examples.example_user[index])
        items = users.train_items_of(user)
        example = _fields(examples[index])
        history = example["history_items"][example["history_mask"] > 0].numpy()
        cut = len(history)  # history_length 50 exceeds every tiny user's train items: the whole prefix
        assert 1 <= cut < len(items)
        np.testing.assert_array_equal(history, rows[items[:cut]])
        filled = min(3, len(items) - cut)
        np.testing.assert_array_equal(example["candidate_items"][:filled].numpy(), rows[items[cut:cut + filled]])
        assert example["labels"][:filled].eq(1).all() and example["labels"][3:].eq(0).all()
        assert example["label_mask"][:filled].eq(1).all() and example["label_mask"][filled:3].eq(0).all()
        assert len(example["candidate_items"]) == 3 + 3 * 2
        assert example["offsets"][:3].eq(0).all()  # uniform negatives: each offset is -log(K / N)
        np.testing.assert_allclose(example["offsets"][3:].numpy(), np.log(len(tiny_data.catalogue) / 6), rtol=1e-5)


def test_popularity_negatives_come_from_the_item_prior_with_their_offsets(tiny_data):
    catalogue = tiny_data.catalogue
    prior = np.zeros(catalogue.item_buckets, np.float32)
    favourite = 5
    prior[catalogue.item_rows[favourite]] = np.log1p(1e6)  # one item carries almost all of the prior
    sampler = NegativeSampler.from_item_prior(prior, catalogue.item_rows)
    examples = TrainingExamples(catalogue, tiny_data.site_users(0), history_length=5, positives_per_user=2,
                                negatives_per_positive=10, seed=1, sampler=sampler)
    example = _fields(examples[0])
    negatives = example["candidate_items"][2:].numpy()
    assert (negatives == catalogue.item_rows[favourite]).mean() > 0.9
    expected = -np.log(20 * sampler.probabilities[favourite])
    np.testing.assert_allclose(example["offsets"][2:][negatives == catalogue.item_rows[favourite]].numpy(),
                               expected, rtol=1e-5)


def test_event_examples_predict_each_interaction_from_the_ones_before(tiny_data, tiny_config):
    users = tiny_data.site_users(0)
    examples = TrainingExamples(tiny_data.catalogue, users, history_length=50, positives_per_user=3,
                                negatives_per_positive=2, privacy_unit="event")
    items = users.train_items_of(0)
    for position in range(len(items)):
        example = _fields(examples[position])
        assert int(example["history_mask"].sum()) == position
        assert example["candidate_items"][0] == tiny_data.catalogue.item_rows[items[position]]
        assert int(example["labels"].sum()) == 1 and len(example["labels"]) == 1 + 2


def test_zero_buckets_give_every_catalogue_item_its_own_row_and_serving_maps_ids_back():
    events = generate_events(SyntheticSpec(users=50, items=40, categories=4, partners=1, seed=1))
    split = split_leave_last_out(events, item_buckets=0, category_buckets=8, attribute_buckets=8)
    catalogue = split.catalogue
    assert catalogue.catalogue_rows and catalogue.item_buckets == len(catalogue) + 1
    np.testing.assert_array_equal(catalogue.item_rows, np.arange(1, len(catalogue) + 1))
    trained = [str(i) for i in catalogue.item_ids[::-1]] + ["gone"]  # another order, one item serving lacks
    served = with_trained_rows(catalogue, trained)
    assert served.item_buckets == len(trained) + 1
    assert served.item_rows[0] == len(catalogue)  # the first item is last in the trained catalogue
    without_first = [i for i in trained if i != str(catalogue.item_ids[0])]
    assert with_trained_rows(catalogue, without_first).item_rows[0] == 0  # unknown to the model: padding row
