"""Attack: a batch size for which 1 / q is not a whole number in floating point (93 steps per epoch).

Weakened site (Opacus's sampler left to count its own steps): it runs int(1 / (1 / 93)) = 92 steps, so the
DLRM's release no longer matches its plan and is refused only after the profile model's release of the same
round was already ledgered: a coordinator-chosen batch size burns budget without a DLRM answer. Real site: the
sampler runs exactly the planned steps, and a plan the loop could not follow is refused before the first release.
"""

import pytest
import torch
from opacus.utils.uniform_sampler import UniformWithReplacementSampler

from recmodel.model.bundle import Recommender
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.training.local import local_batch_size, steps_per_epoch
from recmodel.training.private_round import run_private_round
from recmodel.training.release_plan import PlanCannotRun, check_plan_runs, dlrm_example_count
from recmodel.privacy.budget import PlannedRelease
from simulations.defaults import default_run_config
from recmodel.data.federated import load_federated_data, model_spec_for
from tests.conftest import TINY

USERS, BATCH = 930, 10  # 93 steps per epoch at rate 1/93


def test_the_weakened_sampler_runs_one_step_fewer_than_planned():
    assert steps_per_epoch(USERS, BATCH) == 93
    assert len(UniformWithReplacementSampler(num_samples=USERS, sample_rate=1 / 93)) == 92


def _site_with_93_steps():
    """(config, data) of a synthetic site whose DLRM takes 93 steps per epoch at batch size BATCH."""
    for size in range(USERS, USERS + 200, 5):
        config = default_run_config(**{**TINY, "synthetic_users": size, "profiles": True, "num_server_rounds": 1,
                                       "batch_size": BATCH})
        data = load_federated_data(config, num_partitions=1)
        examples = dlrm_example_count(data.site_users(0), "user")
        if steps_per_epoch(examples, local_batch_size(BATCH, examples)) == 93:
            return config, data
    raise AssertionError("no synthetic size gives 93 steps per epoch")


def test_the_real_site_runs_the_planned_steps_and_ledgers_both_models(tmp_path):
    config, data = _site_with_93_steps()
    users = data.site_users(0)
    torch.manual_seed(0)
    outcome = run_private_round(Recommender(model_spec_for(config, data)), data.catalogue, users, config,
                                state_dir=tmp_path, partner="p", run_id="steps", server_round=1,
                                max_epsilon=config.max_epsilon)
    entries = PrivacyLedger.at_site(tmp_path).entries()
    assert [e["model"] for e in entries] == ["profile", "dlrm"]
    assert (entries[-1]["sample_rate"], entries[-1]["steps"]) == (1 / 93, config.local_epochs * 93)
    assert outcome.steps == config.local_epochs * 93


def test_a_plan_the_loop_cannot_follow_is_refused_before_training():
    good = PlannedRelease(1.0, 1 / 93, 2 * 93)
    check_plan_runs(good, model="dlrm", examples=USERS, epochs=2, batch_size=BATCH)
    with pytest.raises(PlanCannotRun, match="run 186 steps at rate 1/93"):
        check_plan_runs(PlannedRelease(1.0, 1 / 93, 2 * 92), model="dlrm", examples=USERS, epochs=2,
                        batch_size=BATCH)
