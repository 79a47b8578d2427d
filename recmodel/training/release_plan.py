"""Every DP release a site makes in one run, planned before the first one, and recorded after each.

A run's releases at a site: with ``popularity-prior``, one noised item-count
release before round 1; per round, one DP-SGD release per model (profile
model, DLRM), one noised evaluation per round (and one after personalisation),
and optionally one personalisation release. The DP-SGD releases share one
noise multiplier, calibrated once per run so that everything planned,
evaluations and item counts included (their noise multipliers are fixed by
``evaluation-noise-multiplier`` and ``popularity-noise-multiplier``), spends
exactly ``target-epsilon``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from recmodel.atomic_write import write_atomically
from recmodel.config import RunConfig
from recmodel.data.examples import TrainingExamples
from recmodel.data.interactions import Catalogue, Users
from recmodel.data.negative_sampling import negative_sampler
from recmodel.data.profile_examples import profile_example_count
from recmodel.privacy.accounting import (accountant_label, calibrate_noise_multiplier,
                                         calibrate_shared_noise_multiplier, epsilon_of)
from recmodel.privacy.budget import PlannedRelease, check_budget
from recmodel.privacy.ledger import DPEvent, PrivacyLedger
from recmodel.privacy.preflight import NOISE_TO_SIGNAL_WARNING, noise_to_signal
from recmodel.training.data_defaults import local_epochs_for, negatives_for
from recmodel.training.local import local_batch_size, steps_per_epoch

PERSONALISED = "dlrm-personalised"
EVALUATION = "evaluation"
POPULARITY = "popularity"
CALIBRATION_FILE = "calibration.json"  # in the state dir: the run's calibrated noise multiplier, a cache
DEFAULT_POPULARITY_NOISE = 2.0  # item counts' noise multiplier where DP-SGD carries the quality (plan_releases)


def dlrm_training_examples(catalogue: Catalogue, users: Users, config: RunConfig, *, seed: int,
                           item_prior: np.ndarray | None = None) -> TrainingExamples:
    """The site's DLRM examples under the run's privacy unit (profiles attached later, once trained).

    ``item_prior``: the global DLRM's ``item_prior`` [item_buckets] (log1p of the released item counts), which
    ``negative-sampling = "popularity"`` draws negatives from (None: uniform).
    """
    sampler = negative_sampler(config.negative_sampling, item_prior=item_prior, item_rows=catalogue.item_rows)
    return TrainingExamples(catalogue, users, history_length=config.history_length,
                            positives_per_user=config.positives_per_user,
                            negatives_per_positive=negatives_for(config, len(catalogue)),
                            privacy_unit=config.privacy_unit, seed=seed, sampler=sampler)


def dlrm_example_count(users: Users, privacy_unit: str) -> int:
    """How many examples ``dlrm_training_examples`` holds: users with train items, or their train events."""
    counts = np.diff(users.train_offsets)
    return int((counts > 0).sum()) if privacy_unit == "user" else int(counts.sum())


def planned_examples(users: Users, privacy_unit: str, population: int | None) -> int:
    """The example count a site's DP plan uses for the DLRM: its declared ``population`` under the user unit (the
    exact count never enters the plan), else the count of ``dlrm_training_examples`` (event unit, or no site)."""
    if population is not None and privacy_unit == "user":
        return int(population)
    return dlrm_example_count(users, privacy_unit)


def run_sizes(config: RunConfig, *, dlrm_examples: int, profile_examples: int) -> dict[str, tuple[int, int, int]]:
    """Every DP-SGD release the run plans at a site: {model: (examples, epochs per release, releases)}."""
    sizes = {"dlrm": (dlrm_examples, local_epochs_for(config, dlrm_examples), config.num_server_rounds)}
    if config.profiles:
        sizes = {"profile": (profile_examples, config.profile_epochs, config.num_server_rounds), **sizes}
    if config.personalise:
        sizes[PERSONALISED] = (dlrm_examples, config.personalise_epochs, 1)
    return sizes


def evaluation_releases(config: RunConfig, *, metrics: str) -> int:
    """Noised evaluations a site answers in one run (0 if it sends none): one per round, one after
    personalisation, one for the marketing figures (``recmodel.private_marketing``) when ``metrics-k`` names any K."""
    if metrics == "none":
        return 0
    return config.num_server_rounds + (1 if config.personalise else 0) + (1 if config.metric_ks() else 0)


def _read_calibrations(path: Path) -> dict:
    """The calibration cache ({plan key: noise multiplier}); a missing, empty or damaged file is an empty cache
    (calibration is deterministic, so a recomputed value is the one that was lost)."""
    try:
        cache = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def plan_releases(config: RunConfig, sizes: dict[str, tuple[int, int, int]], state_dir: Path, run_id: str, *,
                  evaluations: int) -> dict[str, PlannedRelease]:
    """Each release {model: (noise, sample rate, steps)} from ``run_sizes``, plus ``evaluation`` and ``popularity``
    if the run makes them.

    The DP-SGD noise multiplier is shared and calibrated once per run (cached
    in ``state_dir/calibration.json``) so that all planned releases spend target-epsilon.

    ``popularity-noise-multiplier = 0`` derives the item counts' noise: ``DEFAULT_POPULARITY_NOISE`` where the
    DLRM's DP-SGD noise-to-signal stays at or below ``NOISE_TO_SIGNAL_WARNING``; above it (a site of a few
    hundred users), the multiplier that spends half of ``target-epsilon`` on its own, since the noised counts,
    not DP-SGD, carry the quality there. A function of the plan only: the same at every replay of the run.
    """
    plans = _plan_releases(config, sizes, state_dir, run_id, evaluations=evaluations,
                           popularity_noise=config.popularity_noise_multiplier or DEFAULT_POPULARITY_NOISE)
    if config.popularity_noise_multiplier or not config.popularity_prior or "dlrm" not in plans:
        return plans
    if noise_to_signal(plans["dlrm"], sizes["dlrm"][0]) <= NOISE_TO_SIGNAL_WARNING:
        return plans
    half = calibrate_noise_multiplier(target_epsilon=config.target_epsilon / 2, delta=config.target_delta,
                                      sample_rate=1.0, steps=1, accountant=config.accountant)
    return _plan_releases(config, sizes, state_dir, run_id, evaluations=evaluations, popularity_noise=half)


def _plan_releases(config: RunConfig, sizes: dict[str, tuple[int, int, int]], state_dir: Path, run_id: str, *,
                   evaluations: int, popularity_noise: float) -> dict[str, PlannedRelease]:
    per_epoch = {name: steps_per_epoch(n, local_batch_size(config.batch_size, n)) for name, (n, _, _) in sizes.items()}
    planned = [(1.0 / per_epoch[name], releases * epochs * per_epoch[name])
               for name, (_, epochs, releases) in sizes.items()]
    evaluation = PlannedRelease(config.evaluation_noise_multiplier, 1.0, 1)
    popularity = PlannedRelease(popularity_noise, 1.0, 1)
    fixed = [(evaluation.noise_multiplier, 1.0, evaluations)] if evaluations else []
    if config.popularity_prior:
        fixed.append(popularity.as_history()[0])
    key = f"{run_id}|{config.target_epsilon}|{config.target_delta}|{config.accountant}|{planned}|{fixed}"
    cache_path = state_dir / CALIBRATION_FILE
    cache = _read_calibrations(cache_path)
    if key not in cache:
        cache[key] = calibrate_shared_noise_multiplier(planned, target_epsilon=config.target_epsilon,
                                                       delta=config.target_delta, accountant=config.accountant,
                                                       fixed=fixed)
        state_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(cache_path, lambda tmp: tmp.write_text(json.dumps(cache, indent=1)))
    plans = {name: PlannedRelease(cache[key], 1.0 / per_epoch[name], epochs * per_epoch[name])
             for name, (_, epochs, _) in sizes.items()}
    if evaluations:
        plans[EVALUATION] = evaluation
    if config.popularity_prior:
        plans[POPULARITY] = popularity
    return plans


def plan_site_releases(config: RunConfig, users: Users, state_dir: Path, run_id: str, *,
                       evaluations: int, population: int | None = None) -> dict[str, PlannedRelease]:
    """``plan_releases`` for a site's users (the plan every release of the run reads).

    ``population``: the site's declared user count (``client.site.Site.population``); the DLRM and the profile
    model are then planned for it, not for the exact counts (user unit). None: the exact counts.
    """
    dlrm = planned_examples(users, config.privacy_unit, population)
    profile = int(population) if population is not None else profile_example_count(users)
    sizes = run_sizes(config, dlrm_examples=dlrm, profile_examples=profile)
    return plan_releases(config, sizes, state_dir, run_id, evaluations=evaluations)


def whole_run(config: RunConfig, plans: dict[str, PlannedRelease], *, evaluations: int) -> list[PlannedRelease]:
    """Every release ``plans`` (from ``plan_site_releases``) makes over the whole run: each DP-SGD model's plan
    once per round (personalisation once), the evaluations, the item counts."""
    releases = {PERSONALISED: 1, EVALUATION: evaluations, POPULARITY: 1}
    return [PlannedRelease(plan.noise_multiplier, plan.sample_rate,
                           plan.steps * releases.get(name, config.num_server_rounds))
            for name, plan in plans.items() if releases.get(name, 1)]


def check_whole_run_fits(ledger_history, config: RunConfig, plans: dict[str, PlannedRelease], *, evaluations: int,
                         cap: float, partner: str) -> float:
    """The projected epsilon after the whole run; ``BudgetExhausted`` (before any release of the run) when it would
    pass ``cap``, saying what target fits."""
    return check_budget(ledger_history, whole_run(config, plans, evaluations=evaluations),
                        delta=config.target_delta, accountant=config.accountant, cap=cap, partner=partner,
                        what=f"the whole planned run ({config.num_server_rounds} rounds at target-epsilon "
                             f"{config.target_epsilon:g})",
                        consequence="It takes no part in this run; a run of target-epsilon at most about {room:.2f} "
                                    "fits (fewer rounds do not help: a run is calibrated to spend its target).")


class PlanCannotRun(RuntimeError):
    """A planned DP-SGD release is not the schedule the training loop would run (checked before any release)."""


def check_plan_runs(plan: PlannedRelease, *, model: str, examples: int, epochs: int, batch_size: int) -> None:
    """Raise ``PlanCannotRun`` unless training ``examples`` for ``epochs`` at ``batch_size`` runs exactly ``plan``.

    Called for every model of a round before the first of them trains, so that a plan the loop cannot follow
    is refused before any release of the round is ledgered, never after some were.
    """
    per_epoch = steps_per_epoch(examples, local_batch_size(batch_size, examples))
    if (plan.sample_rate, plan.steps) != (1.0 / per_epoch, epochs * per_epoch):
        raise PlanCannotRun(f"model {model}: the plan has sample rate {plan.sample_rate!r} and {plan.steps} steps, "
                            f"but {examples} examples at batch size {batch_size} for {epochs} epoch(s) run "
                            f"{epochs * per_epoch} steps at rate 1/{per_epoch}")


def record_release(ledger: PrivacyLedger, plan: PlannedRelease, counted: list, model: str, config: RunConfig, *,
                   run_id: str, server_round: int, partner: str, max_epsilon: float, population: int,
                   l2_bound: float | None = None, mechanism: str | None = None,
                   engine: str = "embedding-aware") -> dict:
    """Check the accountant counted exactly the plan, then append (fsync) the event; returns the entry.

    ``counted``: the history the release really ran ([(noise, rate, steps)]);
    ``l2_bound``: one unit's L2 bound (default the clipping norm); ``engine``: what computed the release
    (``recmodel.privacy.ledger.DPEvent.engine``).
    """
    counted = [(s, q, n) for s, q, n in counted]
    if counted != plan.as_history():
        raise RuntimeError(f"partner '{partner}', model {model}: the accountant counted {counted}, not the planned {plan}")
    epsilon = epsilon_of(ledger.history() + counted, delta=config.target_delta, accountant=config.accountant)
    optional = {} if mechanism is None else {"mechanism": mechanism}
    return ledger.append(DPEvent(
        run_id=run_id, round=server_round, model=model, noise_multiplier=plan.noise_multiplier,
        sample_rate=plan.sample_rate, steps=plan.steps,
        max_grad_norm=config.max_grad_norm if l2_bound is None else l2_bound,
        privacy_unit=config.privacy_unit, delta=config.target_delta, epsilon=epsilon,
        accountant=accountant_label(config.accountant), population=population, timestamp=time.time(),
        partner=partner, max_epsilon=max_epsilon, neighbouring=f"add-or-remove-one-{config.privacy_unit}",
        engine=engine, **optional,
    ))

