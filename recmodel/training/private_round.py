"""One partner's round of training, with its privacy bookkeeping.

Order matters: train, compute the cumulative epsilon from the ledger's history
plus this round's steps, append the event to the ledger (fsynced), and only
then return the weights to the caller, who sends them out.
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
from recmodel.privacy.ledger import DPEvent, PrivacyLedger
from recmodel.training.local import DPSettings, steps_per_epoch, train_locally

MODEL_NAME = "dlrm"


@dataclass(frozen=True)
class RoundOutcome:
    examples: int
    steps: int
    mean_loss: float
    noise_multiplier: float  # 0.0 without DP
    sample_rate: float
    epsilon: float  # cumulative over the partner's ledger; inf without DP


def planned_noise_multiplier(config: RunConfig, examples: int, state_dir: Path, run_id: str) -> tuple[float, float]:
    """(noise multiplier, sample rate) calibrated once per run so that all planned steps reach target-epsilon.

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
    return cache[key], sample_rate


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
    proximal_mu: float = 0.0,
) -> RoundOutcome:
    """Train ``model`` in place on ``users`` for ``local-epochs``; record the DP event."""
    examples = TrainingExamples(
        catalogue,
        users,
        history_length=config.history_length,
        positives_per_user=config.positives_per_user,
        negatives_per_positive=config.negatives_per_positive,
        privacy_unit=config.privacy_unit,
        seed=config.seed * 100_003 + server_round,
    )
    dp = None
    if config.dp:
        noise, _ = planned_noise_multiplier(config, len(examples), state_dir, run_id)
        dp = DPSettings(noise_multiplier=noise, max_grad_norm=config.max_grad_norm)
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
    counted = sum(n for _, _, n in report.history)
    if counted != report.steps:
        raise RuntimeError(f"accountant counted {counted} steps but {report.steps} were taken")
    ledger = PrivacyLedger(state_dir / "ledger.jsonl")
    history = ledger.history() + report.history
    epsilon = epsilon_of(history, delta=config.target_delta, accountant=config.accountant)
    ledger.append(
        DPEvent(
            run_id=run_id,
            round=server_round,
            model=MODEL_NAME,
            noise_multiplier=dp.noise_multiplier,
            sample_rate=report.sample_rate,
            steps=report.steps,
            max_grad_norm=dp.max_grad_norm,
            privacy_unit=config.privacy_unit,
            delta=config.target_delta,
            epsilon=epsilon,
            accountant=accountant_label(config.accountant),
            population=report.examples,
            timestamp=time.time(),
            partner=partner,
        )
    )
    return RoundOutcome(report.examples, report.steps, report.mean_loss, dp.noise_multiplier, report.sample_rate, epsilon)
