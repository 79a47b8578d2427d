"""The coordinator's planned counts are the schedule an honest site runs, and replace whatever a reply says."""

import pytest

from recmodel.training.release_plan import run_sizes, plan_releases
from server.planned_counts import planned_training_counts, replace_reported_counts


@pytest.mark.parametrize("population", [7, 60, 122, 5000, 93 * 16 + 1])
def test_the_plan_is_the_one_the_site_runs(tiny_config, tmp_path, population):
    site = plan_releases(tiny_config, run_sizes(tiny_config, dlrm_examples=population, profile_examples=population),
                         tmp_path, "r", evaluations=0)["dlrm"]
    planned = planned_training_counts(tiny_config, population)
    assert (planned["steps"], planned["sample-rate"], planned["num-examples"]) == (site.steps, site.sample_rate,
                                                                                   population)


def test_a_reply_that_lies_is_overwritten_and_what_it_said_is_kept_aside(tiny_config):
    metrics = {"num-examples": 1e12, "steps": 1e12, "sample-rate": 0.5, "epsilon": 3.0}
    said = replace_reported_counts(metrics, planned_training_counts(tiny_config, 60))
    assert said == {"num-examples": 1e12, "steps": 1e12, "sample-rate": 0.5}
    assert metrics["num-examples"] == 60 and metrics["steps"] < 100 and metrics["epsilon"] == 3.0
