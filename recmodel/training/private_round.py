"""One partner's round: train the profile model and the DLRM with DP-SGD, with bookkeeping.

Order matters: plan every release of the round (one shared noise multiplier,
calibrated once per run so that all planned releases of both models reach
target-epsilon), check the plan against the partner's cap, then for each
model train, check the accountant counted exactly the plan, append the event
to the ledger (fsynced); only then does the caller send the weights out.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from recmodel.config import RunConfig
from recmodel.data.examples import TrainingExamples
from recmodel.data.interactions import Catalogue, Users
from recmodel.data.profile_examples import profile_example_count, profile_loss, profile_training_examples
from recmodel.model.bundle import Recommender, site_profiles
from recmodel.model.profile import ProfileLoss
from recmodel.privacy.accounting import accountant_label, calibrate_shared_noise_multiplier, epsilon_of
from recmodel.privacy.budget import PlannedRelease, check_budget
from recmodel.privacy.ledger import DPEvent, PrivacyLedger
from recmodel.training.local import DPSettings, TrainReport, recommendation_loss, steps_per_epoch, train_locally

LEDGER_FILE = "ledger.jsonl"


@dataclass(frozen=True)
class RoundOutcome:
    examples: int
    steps: int
    mean_loss: float
    noise_multiplier: float  # 0.0 without DP
    sample_rate: float
    epsilon: float  # cumulative over the partner's ledger; inf without DP
    ledger_entries: int = 0
    ledger_head: str = ""
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


PERSONALISED = "dlrm-personalised"


def dlrm_training_examples(catalogue: Catalogue, users: Users, config: RunConfig, *, seed: int) -> TrainingExamples:
    """The site's DLRM examples under the run's privacy unit (profiles attached later, once trained)."""
    return TrainingExamples(catalogue, users, history_length=config.history_length,
                            positives_per_user=config.positives_per_user,
                            negatives_per_positive=config.negatives_per_positive,
                            privacy_unit=config.privacy_unit, seed=seed)


def run_sizes(config: RunConfig, users: Users, *, dlrm_examples: int) -> dict[str, tuple[int, int, int]]:
    """Every release the run plans at a site: {model: (examples, epochs per release, releases)}."""
    sizes = {"dlrm": (dlrm_examples, config.local_epochs, config.num_server_rounds)}
    if config.profiles:
        sizes = {"profile": (profile_example_count(users), config.profile_epochs, config.num_server_rounds), **sizes}
    if config.personalise:
        sizes[PERSONALISED] = (dlrm_examples, config.personalise_epochs, 1)
    return sizes


def plan_releases(config: RunConfig, sizes: dict[str, tuple[int, int, int]], state_dir: Path,
                  run_id: str) -> dict[str, PlannedRelease]:
    """Each release {model: (noise, sample rate, steps)} from ``run_sizes``.

    The noise multiplier is shared and calibrated once per run (cached in
    ``state_dir/calibration.json``) so that all planned releases of all models spend target-epsilon.
    """
    per_epoch = {name: steps_per_epoch(n, config.batch_size) for name, (n, _, _) in sizes.items()}
    planned = [(1.0 / per_epoch[name], releases * epochs * per_epoch[name])
               for name, (_, epochs, releases) in sizes.items()]
    key = f"{run_id}|{config.target_epsilon}|{config.target_delta}|{config.accountant}|{planned}"
    cache_path = state_dir / "calibration.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    if key not in cache:
        cache[key] = calibrate_shared_noise_multiplier(planned, target_epsilon=config.target_epsilon,
                                                       delta=config.target_delta, accountant=config.accountant)
        state_dir.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache, indent=1))
    return {name: PlannedRelease(cache[key], 1.0 / per_epoch[name], epochs * per_epoch[name])
            for name, (_, epochs, _) in sizes.items()}


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
    proximal_mu: float = 0.0,
) -> RoundOutcome:
    """Train the bundle in place on ``users``; record one DP event per model.

    Raises ``BudgetExhausted`` (before any training) if the round's releases
    would take the partner's cumulative epsilon above ``max_epsilon``.
    """
    tasks = []
    if recommender.profile is not None:
        tasks.append(LocalTask("profile", recommender.profile,
                               profile_training_examples(catalogue, users, category_buckets=config.category_buckets,
                                                         attribute_buckets=config.attribute_buckets),
                               config.profile_epochs, config.profile_learning_rate, 0.9, ProfileLoss(), profile_loss))
    dlrm_examples = dlrm_training_examples(catalogue, users, config, seed=config.seed * 100_003 + server_round)
    tasks.append(LocalTask("dlrm", recommender.dlrm, dlrm_examples, config.local_epochs, config.learning_rate,
                           config.momentum, None, recommendation_loss))
    if len(dlrm_examples) == 0:
        raise ValueError(f"partner '{partner}' has no training examples (no user with train interactions)")

    ledger = PrivacyLedger(state_dir / LEDGER_FILE)
    plans = {}
    if config.dp:
        sizes = run_sizes(config, users, dlrm_examples=len(dlrm_examples))
        all_plans = plan_releases(config, sizes, state_dir, run_id)
        plans = {t.name: all_plans[t.name] for t in tasks}
        check_budget(ledger.history(), list(plans.values()), delta=config.target_delta,
                     accountant=config.accountant, cap=max_epsilon, partner=partner)
    reports: dict[str, TrainReport] = {}
    for task in tasks:
        if task.name == "dlrm":  # the profile model has just trained: embed with it
            dlrm_examples.attach_profiles(site_profiles(recommender, catalogue, users, config))
        plan = plans.get(task.name)
        dp = None if plan is None else DPSettings(plan.noise_multiplier, config.max_grad_norm)
        report = train_locally(task.module, task.examples, epochs=task.epochs, batch_size=config.batch_size,
                               learning_rate=task.learning_rate, momentum=task.momentum, dp=dp,
                               proximal_mu=proximal_mu, criterion=task.criterion, compute_loss=task.compute_loss)
        reports[task.name] = report
        if plan is not None:
            record_release(ledger, plan, report, task.name, config, run_id=run_id, server_round=server_round,
                           partner=partner, max_epsilon=max_epsilon)
    dlrm = reports["dlrm"]
    profile_loss_value = reports["profile"].mean_loss if "profile" in reports else float("nan")
    if not config.dp:
        return RoundOutcome(dlrm.examples, dlrm.steps, dlrm.mean_loss, 0.0, dlrm.sample_rate, float("inf"),
                            profile_loss=profile_loss_value)
    entries, head = ledger.head()
    last = ledger.entries()[-1]
    return RoundOutcome(dlrm.examples, dlrm.steps, dlrm.mean_loss, plans["dlrm"].noise_multiplier,
                        plans["dlrm"].sample_rate, last["epsilon"], entries, head, profile_loss_value)


def record_release(ledger: PrivacyLedger, plan: PlannedRelease, report: TrainReport, model: str, config: RunConfig, *,
                   run_id: str, server_round: int, partner: str, max_epsilon: float) -> None:
    """Check the accountant counted exactly the plan, then append (fsync) the event."""
    counted = [(s, q, n) for s, q, n in report.history]
    if counted != plan.as_history():
        raise RuntimeError(f"partner '{partner}', model {model}: the accountant counted {counted}, not the planned {plan}")
    epsilon = epsilon_of(ledger.history() + counted, delta=config.target_delta, accountant=config.accountant)
    ledger.append(DPEvent(
        run_id=run_id, round=server_round, model=model, noise_multiplier=plan.noise_multiplier,
        sample_rate=plan.sample_rate, steps=plan.steps, max_grad_norm=config.max_grad_norm,
        privacy_unit=config.privacy_unit, delta=config.target_delta, epsilon=epsilon,
        accountant=accountant_label(config.accountant), population=report.examples, timestamp=time.time(),
        partner=partner, max_epsilon=max_epsilon,
    ))
