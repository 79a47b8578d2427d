"""FedPer-style personalisation at one partner, after federation.

The partner fine-tunes the global DLRM's OverArch (the last layers) on its own
users with DP-SGD, keeps the personalised weights in its state directory (they
never leave the site), and reports NDCG@K on its test users before and after.
The release is planned into the run's budget from the start (see
``run_sizes``) and recorded in the ledger as model ``dlrm-personalised``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from recmodel.config import RunConfig
from recmodel.data.interactions import Catalogue, Users
from recmodel.evaluation import ranking_quality
from recmodel.model.bundle import Recommender, site_profiles
from recmodel.privacy.budget import check_budget
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.training.local import DPSettings, train_locally
from recmodel.training.private_round import (LEDGER_FILE, PERSONALISED, dlrm_training_examples, plan_releases,
                                             record_release, run_sizes)

PERSONALISED_FILE = "personalised.pt"


def personalise_locally(recommender: Recommender, catalogue: Catalogue, users: Users, config: RunConfig, *,
                        state_dir: Path, partner: str, run_id: str, max_epsilon: float) -> dict:
    """Fine-tune the OverArch in place; returns {"ndcg-before", "ndcg-after", "num-examples", "epsilon"}."""
    ndcg = f"ndcg@{config.top_k}"
    profiles = site_profiles(recommender, catalogue, users, config)  # the profile model stays frozen
    before = ranking_quality(recommender, catalogue, users, config, profiles)[ndcg]
    examples = dlrm_training_examples(catalogue, users, config, seed=config.seed * 100_003 + 99_999)
    examples.attach_profiles(profiles)
    ledger = PrivacyLedger(state_dir / LEDGER_FILE)
    dp, plan = None, None
    if config.dp:
        plan = plan_releases(config, run_sizes(config, users, dlrm_examples=len(examples)),
                             state_dir, run_id)[PERSONALISED]
        check_budget(ledger.history(), [plan], delta=config.target_delta, accountant=config.accountant,
                     cap=max_epsilon, partner=partner)
        dp = DPSettings(plan.noise_multiplier, config.max_grad_norm)
    frozen = [p for name, p in recommender.dlrm.named_parameters() if not name.startswith("over_arch.")]
    for p in frozen:
        p.requires_grad_(False)
    try:
        report = train_locally(recommender.dlrm, examples, epochs=config.personalise_epochs,
                               batch_size=config.batch_size, learning_rate=config.learning_rate,
                               momentum=config.momentum, dp=dp)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    epsilon = -1.0
    if plan is not None:
        record_release(ledger, plan, report, PERSONALISED, config, run_id=run_id, server_round=0, partner=partner,
                       max_epsilon=max_epsilon)
        epsilon = ledger.entries()[-1]["epsilon"]
    state_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": recommender.state_dict(), "model_spec": recommender.spec.to_dict()},
               state_dir / PERSONALISED_FILE)
    after = ranking_quality(recommender, catalogue, users, config, profiles)[ndcg]
    return {"ndcg-before": before, "ndcg-after": after, "num-examples": len(users), "epsilon": epsilon}
