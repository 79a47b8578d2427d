"""One partner's round of training, with its privacy bookkeeping.

Order matters: plan the release (noise multiplier, sample rate, steps), check
it against the partner's cap, train, check the accountant counted exactly the
plan, append the event to the ledger (fsynced), and only then return the
weights to the caller, who sends them out.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from recmodel.config import RunConfig
from recmodel.data.examples import TrainingExamples
from recmodel.data.interactions import Catalogue, Users
from recmodel.privacy.accounting import accountant_label, calibrate_noise_multiplier, epsilon_of
from recmodel.privacy.budget import PlannedRelease, check_budget
from recmodel.privacy.ledger import DPEvent, PrivacyLedger
from recmodel.training.local import DPSettings, steps_per_epoch, train_locally

MODEL_NAME = "dlrm"
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


def planned_noise_multiplier(config: RunConfig, examples: int, state_dir: Path, run_id: str) -> float:
    """Noise multiplier calibrated once per run so that all planned steps reach target-epsilon.

    Cached in ``state_dir/calibration.json`` so every round of the run uses the same value.
    """
    steps = steps_per_epoch(examples, config.batch_size)
    sample_rate = 1.0 / steps
    planned_steps = config.num_server_rounds * config.local_epochs * steps
    key = f"{run_id}|{config.target_epsilon}|{config.target_delta}|{sample_rate}|{planned_steps}|{config.accountant}"
    cache_path = state_dir / "calibration.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    if key not in cache:
        cache[key] = calibrate_noise_multiplier(
            target_epsilon=config.target_epsilon,
            delta=config.target_delta,
            sample_rate=sample_rate,
            steps=planned_steps,
            accountant=config.accountant,
        )
        state_dir.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache, indent=1))
    return cache[key]


def plan_release(config: RunConfig, examples: int, state_dir: Path, run_id: str) -> PlannedRelease:
    """The exact release one round of ``local-epochs`` will make."""
    steps = steps_per_epoch(examples, config.batch_size)
    return PlannedRelease(
        noise_multiplier=planned_noise_multiplier(config, examples, state_dir, run_id),
        sample_rate=1.0 / steps,
        steps=config.local_epochs * steps,
    )


def run_private_round(
    model: torch.nn.Module,
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
    """Train ``model`` in place on ``users`` for ``local-epochs``; record the DP event.

    Raises ``BudgetExhausted`` (before any training) if the round would take the
    partner's cumulative epsilon above ``max_epsilon``.
    """
    examples = TrainingExamples(
        catalogue,
        users,
        history_length=config.history_length,
        positives_per_user=config.positives_per_user,
        negatives_per_positive=config.negatives_per_positive,
        privacy_unit=config.privacy_unit,
        seed=config.seed * 100_003 + server_round,
    )
    if len(examples) == 0:
        raise ValueError(f"partner '{partner}' has no training examples (no user with train interactions)")
    ledger = PrivacyLedger(state_dir / LEDGER_FILE)
    dp = None
    if config.dp:
        plan = plan_release(config, len(examples), state_dir, run_id)
        check_budget(ledger.history(), plan, delta=config.target_delta, accountant=config.accountant,
                     cap=max_epsilon, partner=partner)
        dp = DPSettings(noise_multiplier=plan.noise_multiplier, max_grad_norm=config.max_grad_norm)
    report = train_locally(
        model,
        examples,
        epochs=config.local_epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        momentum=config.momentum,
        dp=dp,
        proximal_mu=proximal_mu,
    )
    if dp is None:
        return RoundOutcome(report.examples, report.steps, report.mean_loss, 0.0, report.sample_rate, float("inf"))
    counted = [(s, q, n) for s, q, n in report.history]
    if counted != plan.as_history():
        raise RuntimeError(f"partner '{partner}': the accountant counted {counted}, not the planned {plan}")
    epsilon = epsilon_of(ledger.history() + counted, delta=config.target_delta, accountant=config.accountant)
    entry = ledger.append(
        DPEvent(
            run_id=run_id,
            round=server_round,
            model=MODEL_NAME,
            noise_multiplier=plan.noise_multiplier,
            sample_rate=plan.sample_rate,
            steps=plan.steps,
            max_grad_norm=dp.max_grad_norm,
            privacy_unit=config.privacy_unit,
            delta=config.target_delta,
            epsilon=epsilon,
            accountant=accountant_label(config.accountant),
            population=report.examples,
            timestamp=time.time(),
            partner=partner,
            max_epsilon=max_epsilon,
        )
    )
    entries, head = ledger.head()
    assert head == entry["hash"]
    return RoundOutcome(report.examples, report.steps, report.mean_loss, plan.noise_multiplier,
                        plan.sample_rate, epsilon, entries, head)
