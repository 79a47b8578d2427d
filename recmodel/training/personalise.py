"""FedPer-style personalisation at one partner, after federation.

The partner fine-tunes the global DLRM's OverArch (the last layers) on its own
users with DP-SGD, keeps the personalised weights in its state directory (they
never leave the site), and reports NDCG@K on its test users before and after
as one noised evaluation release. Both releases are planned into the run's
budget from the start (see ``release_plan``) and recorded in the ledger, as
models ``dlrm-personalised`` and ``evaluation``.
"""

from __future__ import annotations

from pathlib import Path

from recmodel.config import RunConfig
from recmodel.data.interactions import Catalogue, Users
from recmodel.model.bundle import Recommender, site_profiles
from recmodel.model.model_file import save_model
from recmodel.private_evaluation import PrivateAnswer, per_user_ranking, release_privately
from recmodel.privacy.budget import check_budget
from recmodel.privacy.site_secrets import example_seed
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.model.loss import recommendation_criterion
from recmodel.training.local import DPSettings, local_batch_size, train_locally
from recmodel.training.release_plan import (PERSONALISED, check_plan_runs, dlrm_training_examples,
                                            plan_site_releases, planned_examples, record_release)

PERSONALISED_DIR = "personalised"  # model.pt + model.json, kept at the site
PERSONALISE_ROUND = 2**31  # keys the personalisation examples apart from every federated round's


def personalise_locally(recommender: Recommender, catalogue: Catalogue, users: Users, config: RunConfig, *,
                        state_dir: Path, partner: str, run_id: str, max_epsilon: float,
                        evaluations: int, population: int | None = None,
                        dp_engine: str = "embedding-aware") -> PrivateAnswer | dict:
    """Fine-tune the OverArch in place, save it at the site, and release NDCG@K before/after.

    With DP: a ``PrivateAnswer`` whose noised sums are ``ndcg-before`` and
    ``ndcg-after`` (and the count). Without DP (simulation only): the exact
    per-user values ``{"ndcg-before": [U], "ndcg-after": [U]}``.
    """
    profiles = site_profiles(recommender, catalogue, users, config)  # the profile model stays frozen
    before = per_user_ranking(recommender, catalogue, users, config, profiles)["ndcg"]
    seed = example_seed(state_dir, PERSONALISE_ROUND, dp=config.dp, run_seed=config.seed)
    examples = dlrm_training_examples(catalogue, users, config, seed=seed,
                                      item_prior=recommender.dlrm.item_prior.numpy())
    examples.attach_profiles(profiles)
    ledger = PrivacyLedger.at_site(state_dir)
    with ledger.reserved():
        dp, plan, planned = None, None, None
        if config.dp:
            plan = plan_site_releases(config, users, state_dir, run_id, evaluations=evaluations,
                                      population=population)[PERSONALISED]
            check_budget(ledger.history(), [plan], delta=config.target_delta, accountant=config.accountant,
                         cap=max_epsilon, partner=partner)
            planned = planned_examples(users, config.privacy_unit, population)
            check_plan_runs(plan, model=PERSONALISED, examples=planned, epochs=config.personalise_epochs,
                            batch_size=config.batch_size)
            dp = DPSettings(plan.noise_multiplier, config.max_grad_norm)
        frozen = [p for name, p in recommender.dlrm.named_parameters() if not name.startswith("over_arch.")]
        for p in frozen:
            p.requires_grad_(False)
        try:
            report = train_locally(recommender.dlrm, examples, epochs=config.personalise_epochs,
                                   batch_size=local_batch_size(config.batch_size, planned or len(examples)),
                                   learning_rate=config.learning_rate, momentum=config.momentum, dp=dp,
                                   criterion=recommendation_criterion(config.loss), max_grad_norm=config.max_grad_norm,
                                   optimizer=config.optimizer, sparse_table_rows=config.sparse_table_rows,
                                   sparse_learning_rate=config.sparse_learning_rate, device=config.device,
                                   planned_examples=planned, dp_implementation=dp_engine)
        finally:
            for p in frozen:
                p.requires_grad_(True)
        if plan is not None:
            record_release(ledger, plan, report.history, PERSONALISED, config, run_id=run_id, server_round=0,
                           partner=partner, max_epsilon=max_epsilon, population=report.examples, engine=dp_engine)
    save_model(state_dir / PERSONALISED_DIR, recommender.state_dict(), recommender.spec, config.to_mapping())
    after = per_user_ranking(recommender, catalogue, users, config, profiles)["ndcg"]
    if not config.dp:
        return {"ndcg-before": before, "ndcg-after": after}
    return release_privately({"ndcg-before": before, "ndcg-after": after}, config, state_dir=state_dir,
                             partner=partner, run_id=run_id, server_round=0, max_epsilon=max_epsilon,
                             evaluations=evaluations, users=users, population=population)
