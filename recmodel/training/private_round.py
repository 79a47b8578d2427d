"""One partner's round: train the profile model and the DLRM with DP-SGD, with bookkeeping.

Order matters, all under the ledger's exclusive lock: check the ledger is
whole, plan every release of the run (``release_plan``), check the round's
releases against the partner's cap, then for each model train, check the
accountant counted exactly the plan, append the signed event to the ledger
(fsynced); only then does the caller send the weights out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from recmodel.config import RunConfig
from recmodel.data.interactions import Catalogue, Users
from recmodel.data.profile_examples import profile_loss, profile_training_examples
from recmodel.model.bundle import Recommender, site_profiles
from recmodel.model.profile import ProfileLoss
from recmodel.privacy.budget import check_budget
from recmodel.privacy.site_secrets import example_seed
from recmodel.privacy.ledger import PrivacyLedger
from recmodel.privacy.preflight import noise_scaled_learning_rate, noise_to_signal
from recmodel.model.loss import recommendation_criterion
from recmodel.training.data_defaults import local_epochs_for
from recmodel.training.local import DPSettings, TrainReport, local_batch_size, recommendation_loss, train_locally
from recmodel.training.release_plan import (check_plan_runs, dlrm_training_examples, plan_site_releases,
                                            planned_examples, record_release)


@dataclass(frozen=True)
class RoundOutcome:
    examples: int
    steps: int
    mean_loss: float
    noise_multiplier: float  # 0.0 without DP
    sample_rate: float
    epsilon: float  # cumulative over the partner's ledger; inf without DP
    signed_head: dict | None = None  # the ledger's signed head after the round (None without DP)
    profile_loss: float = float("nan")


@dataclass
class LocalTask:
    """One model trained on the site's users this round."""

    name: str
    module: torch.nn.Module
    examples: object
    epochs: int
    learning_rate: float
    momentum: float
    criterion: torch.nn.Module | None
    compute_loss: Callable
    optimizer: str = "sgd"
    planned: int = 0  # the example count the DP plan assumes (release_plan.plan_site_releases); 0 = len(examples)

    @property
    def planned_count(self) -> int:
        return self.planned or len(self.examples)


def run_private_round(
    recommender: Recommender,
    catalogue: Catalogue,
    users: Users,
    config: RunConfig,
    *,
    state_dir: Path,
    partner: str,
    run_id: str,
    server_round: int,
    max_epsilon: float,
    evaluations: int = 0,
    proximal_mu: float = 0.0,
    population: int | None = None,
    dp_engine: str = "embedding-aware",
    stage_done: Callable[[str], None] = lambda stage: None,
) -> RoundOutcome:
    """Train the bundle in place on ``users``; record one DP event per model.

    ``evaluations``: noised evaluations the site plans to answer in this run (planned into the budget).
    ``population``: the site's declared user count, which the DP plan and the DP steps use instead of the
    exact counts (``recmodel.training.release_plan.plan_site_releases``). Raises ``BudgetExhausted`` (before
    any training) if the round's releases would take the partner's cumulative epsilon above ``max_epsilon``,
    ``LedgerIntegrityError`` if the ledger is damaged, ``PlanCannotRun`` if the loop would not run the plan.
    ``dp_engine``: the site's DP-SGD engine (``recmodel.privacy.policy``), recorded with each release.
    ``stage_done``: called with ``"examples"`` once the training examples are built, then with ``"train <model>"``
    once each model has trained and its release is in the ledger (``simulations.bench_site`` times the stages).
    """
    tasks = []
    if recommender.profile is not None:
        tasks.append(LocalTask("profile", recommender.profile,
                               profile_training_examples(catalogue, users, category_buckets=config.category_buckets,
                                                         attribute_buckets=config.attribute_buckets,
                                                         reference_time=config.reference_time),
                               config.profile_epochs, config.profile_learning_rate, 0.9, ProfileLoss(), profile_loss,
                               planned=population or 0))
    seed = example_seed(state_dir, server_round, dp=config.dp, run_seed=config.seed)
    dlrm_examples = dlrm_training_examples(catalogue, users, config, seed=seed,
                                           item_prior=recommender.dlrm.item_prior.numpy())
    planned = planned_examples(users, config.privacy_unit, population)
    tasks.append(LocalTask("dlrm", recommender.dlrm, dlrm_examples, local_epochs_for(config, planned),
                           config.learning_rate, config.momentum, recommendation_criterion(config.loss),
                           recommendation_loss, config.optimizer, planned=planned))
    if len(dlrm_examples) == 0:
        raise ValueError(f"partner '{partner}' has no training examples (no user with train interactions)")
    stage_done("examples")

    ledger = PrivacyLedger.at_site(state_dir)
    with ledger.reserved():
        plans = {}
        if config.dp:
            all_plans = plan_site_releases(config, users, state_dir, run_id, evaluations=evaluations,
                                           population=population)
            plans = {t.name: all_plans[t.name] for t in tasks}
            check_budget(ledger.history(), list(plans.values()), delta=config.target_delta,
                         accountant=config.accountant, cap=max_epsilon, partner=partner)
            for task in tasks:
                check_plan_runs(plans[task.name], model=task.name, examples=task.planned_count,
                                epochs=task.epochs, batch_size=config.batch_size)
        reports: dict[str, TrainReport] = {}
        for task in tasks:
            if task.name == "dlrm":  # the profile model has just trained: embed with it
                dlrm_examples.attach_profiles(site_profiles(recommender, catalogue, users, config))
            plan = plans.get(task.name)
            dp = None if plan is None else DPSettings(plan.noise_multiplier, config.max_grad_norm)
            examples = task.planned_count if plan is not None else len(task.examples)
            batch_size = local_batch_size(config.batch_size, examples)
            learning_rate = task.learning_rate
            if plan is not None and task.name == "dlrm":  # noisier sites step shorter (recmodel.privacy.preflight)
                learning_rate = noise_scaled_learning_rate(learning_rate, noise_to_signal(plan, examples))
            report = train_locally(task.module, task.examples, epochs=task.epochs, batch_size=batch_size,
                                   learning_rate=learning_rate, momentum=task.momentum, dp=dp,
                                   proximal_mu=proximal_mu, criterion=task.criterion, compute_loss=task.compute_loss,
                                   max_grad_norm=config.max_grad_norm, optimizer=task.optimizer,
                                   sparse_table_rows=config.sparse_table_rows,
                                   sparse_learning_rate=config.sparse_learning_rate, device=config.device,
                                   planned_examples=examples if plan is not None else None,
                                   dp_implementation=dp_engine)
            reports[task.name] = report
            if plan is not None:
                record_release(ledger, plan, report.history, task.name, config, run_id=run_id,
                               server_round=server_round, partner=partner, max_epsilon=max_epsilon,
                               population=report.examples, engine=dp_engine)
            stage_done(f"train {task.name}")
    dlrm = reports["dlrm"]
    profile_loss_value = reports["profile"].mean_loss if "profile" in reports else float("nan")
    if not config.dp:
        return RoundOutcome(dlrm.examples, dlrm.steps, dlrm.mean_loss, 0.0, dlrm.sample_rate, float("inf"),
                            profile_loss=profile_loss_value)
    last = ledger.entries()[-1]
    return RoundOutcome(dlrm.examples, dlrm.steps, dlrm.mean_loss, plans["dlrm"].noise_multiplier,
                        plans["dlrm"].sample_rate, last["epsilon"], ledger.signed_head(partner), profile_loss_value)
