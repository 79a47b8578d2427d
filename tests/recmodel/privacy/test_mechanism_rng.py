"""The coordinator cannot replay a site's DP noise: everything it knows does not determine it."""

import numpy as np
import torch

from recmodel.model.bundle import Recommender
from recmodel.privacy.noised_release import release_noised_sums
from recmodel.training.private_round import run_private_round


def _released_weights(tiny_data, tiny_spec, config, state_dir, *, seed: int) -> dict:
    """One round at site 0 exactly as the ClientApp runs it, from the coordinator-known seed."""
    torch.manual_seed(config.seed * 1_000 + 1)  # what client/app.py does with the run config's seed
    model = Recommender(tiny_spec)
    model.load_state_dict(_initial(tiny_spec, seed))
    run_private_round(model, tiny_data.catalogue, tiny_data.site_users(0), config, state_dir=state_dir,
                      partner="p0", run_id="replay", server_round=1, max_epsilon=config.max_epsilon)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _initial(tiny_spec, seed: int) -> dict:
    torch.manual_seed(seed)
    return Recommender(tiny_spec).state_dict()


def test_a_replay_from_everything_the_coordinator_knows_gets_other_noise(tiny_data, tiny_spec, tiny_config, tmp_path):
    """Same run config, seed, global weights, user counts, even the same users: only the noise differs.

    The coordinator's best replay is to rerun the site's code on what it knows; here the replay even holds the
    site's data. Without DP the two runs agree bit for bit (the control), with DP they do not.
    """
    exact = [_released_weights(tiny_data, tiny_spec, tiny_config.replace(dp=False), tmp_path / f"plain{i}", seed=0)
             for i in range(2)]
    assert all(torch.equal(exact[0][k], exact[1][k]) for k in exact[0])

    site = _released_weights(tiny_data, tiny_spec, tiny_config, tmp_path / "site", seed=0)
    replay = _released_weights(tiny_data, tiny_spec, tiny_config, tmp_path / "replay", seed=0)
    changed = [k for k in site if not torch.equal(site[k], replay[k])]
    parameters = {f"dlrm.{name}" for name, _ in Recommender(tiny_spec).dlrm.named_parameters()}
    assert sorted(changed) == sorted(parameters)  # every DLRM parameter got other noise (buffers stay)


def test_two_rounds_with_the_same_seed_at_the_same_site_use_different_noise(tiny_data, tiny_spec, tiny_config,
                                                                             tmp_path):
    first = _released_weights(tiny_data, tiny_spec, tiny_config, tmp_path, seed=0)
    second = _released_weights(tiny_data, tiny_spec, tiny_config, tmp_path, seed=0)  # same state dir, same seed
    assert not any(torch.equal(first[k], second[k]) for k in first if k.startswith("dlrm.over_arch"))


def test_noised_sums_have_the_stated_noise_and_are_not_seedable():
    """Released sums: unbiased, std = multiplier x sqrt(K + 1); the global torch seed does not fix them."""
    per_user = {"ndcg": np.full(100, 0.5), "hr": np.ones(100)}
    draws = []
    for _ in range(2000):
        torch.manual_seed(0)  # a coordinator-known seed changes nothing
        released = release_noised_sums(per_user, noise_multiplier=2.0)
        draws.append([released.sums["hr"], released.sums["ndcg"], released.count])
    draws = np.array(draws)
    assert released.sensitivity == np.sqrt(3) and released.noise_std == 2.0 * np.sqrt(3)
    assert np.allclose(draws.mean(axis=0), [100, 50, 100], atol=0.5)
    assert np.allclose(draws.std(axis=0), 2.0 * np.sqrt(3), rtol=0.06)
    assert len(np.unique(draws[:, 0])) == len(draws)

