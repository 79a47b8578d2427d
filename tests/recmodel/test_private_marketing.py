"""A site's marketing figures: per-user columns that match the central figures, one ledgered release per run."""

import numpy as np
import pytest
import torch

from recmodel.data.federated import model_spec_for
from recmodel.evaluation import marketing_by_segment
from recmodel.metrics.activity_segments import SEGMENT_NAMES, activity_segments
from recmodel.model.bundle import Recommender
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.private_marketing import (NOVELTY_CAP_BITS, exact_segment_sums, per_user_marketing_columns,
                                        release_marketing_privately)


@pytest.fixture
def model(tiny_config, tiny_data):
    torch.manual_seed(0)
    return Recommender(model_spec_for(tiny_config, tiny_data))


def test_exact_segment_sums_give_the_central_figures_of_each_segment(model, tiny_config, tiny_data):
    users = tiny_data.site_users(0)
    columns = per_user_marketing_columns(model, tiny_data.catalogue, users, tiny_config)
    assert set(columns) == {f"{f}@{k}" for k in (5, 10, 20) for f in ("recall", "map", "novelty")}
    assert all(values.shape == (len(users),) and values.min() >= 0 and values.max() <= 1 for values in columns.values())
    parts = exact_segment_sums(columns, activity_segments(users))
    central = marketing_by_segment(model, tiny_data.catalogue, users, tiny_config)["segments"]
    assert sum(part.count for part in parts) == len(users)
    for part, name in zip(parts, SEGMENT_NAMES):
        assert part.count == central[name]["users"]
        if part.count:
            assert part.sums["recall@10"] / part.count == pytest.approx(central[name]["recall@10"])
            assert part.sums["map@5"] / part.count == pytest.approx(central[name]["map@5"])
            assert part.sums["novelty@20"] / part.count * NOVELTY_CAP_BITS == pytest.approx(central[name]["novelty@20"])


def test_the_release_is_one_evaluation_entry_of_the_plain_evaluation_sensitivity(model, tiny_config, tiny_data,
                                                                                  tmp_path):
    users = tiny_data.site_users(0)
    answer = release_marketing_privately(model, tiny_data.catalogue, users, tiny_config, state_dir=tmp_path,
                                         partner="p0", run_id="r", max_epsilon=tiny_config.max_epsilon,
                                         evaluations=3)
    [entry] = PrivacyLedger.at_site(tmp_path).entries()
    assert (entry["model"], entry["mechanism"], entry["round"]) == ("evaluation", "gaussian", 0)
    assert entry["max_grad_norm"] == pytest.approx(np.sqrt(9 + 1))  # nine columns and the count, whatever the segments
    assert entry["noise_multiplier"] == tiny_config.evaluation_noise_multiplier
    assert len(answer.segments) == len(SEGMENT_NAMES)
    assert all(part.noise_std == pytest.approx(tiny_config.evaluation_noise_multiplier * np.sqrt(10))
               for part in answer.segments)
    assert answer.released.count == pytest.approx(sum(part.count for part in answer.segments))
