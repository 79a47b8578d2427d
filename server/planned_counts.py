"""The counts the coordinator aggregates and bounds a training reply with: its own plan, never the reply's.

A partner's reply carries ``num-examples``, ``steps`` and ``sample-rate``. A rogue partner can report any
figure there (1e12 examples to take over FedAvg's weighted mean, 1e12 steps to widen its own update-norm
bound), so the coordinator replaces them, before any check or aggregation, by what it plans from the
partner's **declared population** (its site-check answer: ``expected-users`` in a deployment, the partition's
size in simulation; public, fixed before round 1) and the run config: the expected batch
``local_batch_size(batch-size, population)``, ``steps_per_epoch`` per epoch and ``local-epochs`` epochs
(``local_epochs_for``: derived from the population when 0), the
schedule every honest site runs (``recmodel.training.release_plan``). Under ``privacy-unit = "event"`` a site
plans on its exact event count, which the coordinator does not know; there the reply's steps and rate are
kept and only the weight is the declared population.
"""

from __future__ import annotations

from recmodel.config import RunConfig
from recmodel.training.data_defaults import local_epochs_for
from recmodel.training.local import local_batch_size, steps_per_epoch

PLANNED_KEYS = ("num-examples", "steps", "sample-rate")


def planned_training_counts(config: RunConfig, population: int) -> dict[str, float]:
    """{"num-examples": users, "steps": DLRM steps of one round, "sample-rate": per step} for a partner that
    declared ``population`` users."""
    per_epoch = steps_per_epoch(population, local_batch_size(config.batch_size, population))
    counts = {"num-examples": float(population)}
    if config.privacy_unit == "user":
        counts.update({"steps": float(local_epochs_for(config, population) * per_epoch),
                       "sample-rate": 1.0 / per_epoch})
    return counts


def replace_reported_counts(metrics, planned: dict[str, float]) -> dict[str, float]:
    """Overwrite ``metrics`` (a reply's MetricRecord) with ``planned``; returns what the reply had said."""
    reported = {key: float(metrics[key]) for key in planned if key in metrics}
    for key, value in planned.items():
        metrics[key] = value
    return reported
