"""A site's two DP-SGD engines (its policy's ``dp-engine``): the same plan, the same ledger, the same guarantee.

``embedding-aware`` (default) and ``opacus`` (Opacus's own PrivacyEngine) run the plan the site made for its
declared population; each release is ledgered with its engine, and the accounted figures match exactly.
"""

import pytest
import torch

from recmodel.model.bundle import Recommender
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.training.private_round import run_private_round

ACCOUNTED = ("model", "noise_multiplier", "sample_rate", "steps", "epsilon", "delta", "neighbouring", "population",
             "max_grad_norm", "privacy_unit")


@pytest.mark.parametrize("population", [None, 75])  # the exact count, or a declared population above it
def test_both_engines_run_the_same_plan_and_ledger_the_same_guarantee(tiny_config, tiny_data, tiny_spec, tmp_path,
                                                                      population):
    users = tiny_data.site_users(0)
    config = tiny_config.replace(profiles=False)
    ledgers, weights = {}, {}
    for engine in ("embedding-aware", "opacus"):
        torch.manual_seed(0)
        model = Recommender(tiny_spec)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        outcome = run_private_round(model, tiny_data.catalogue, users, config, state_dir=tmp_path / engine,
                                    partner="p0", run_id="engines", server_round=1, max_epsilon=config.max_epsilon,
                                    population=population, dp_engine=engine)
        entries = PrivacyLedger.at_site(tmp_path / engine).entries()
        assert [e["engine"] for e in entries] == [engine]
        ledgers[engine] = [{k: e[k] for k in ACCOUNTED} for e in entries]
        after = model.state_dict()
        weights[engine] = after
        assert all(torch.isfinite(t).all() for t in after.values())
        assert not torch.equal(after["dlrm.over_arch.mlp.0.weight"], before["dlrm.over_arch.mlp.0.weight"])
        assert outcome.examples == (population or len(users))
    assert ledgers["embedding-aware"] == ledgers["opacus"]
    if population is not None:
        entry = ledgers["opacus"][0]
        assert entry["population"] == population and entry["sample_rate"] == 1 / round(1 / entry["sample_rate"])
