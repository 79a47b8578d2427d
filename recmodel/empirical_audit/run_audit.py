"""Score a finished simulated run's canaries and write the canary audit into its run directory.

Inputs: the run directory (``config.json`` and ``site-updates/`` from ``keep-site-updates``), the events file
holding every canary (included or not) and the ``CanarySet``. ``canary_scores`` gives one score per canary and
view; ``recmodel.empirical_audit.verdict`` turns them into bounds; ``write_audit`` writes
``<run-dir>/privacy/empirical-audit.json`` with the ROC curves and score histograms as PNG beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from recmodel.atomic_write import write_atomically
from recmodel.config import RunConfig
from recmodel.data.federated import load_federated_data
from recmodel.empirical_audit.canaries import CanarySet
from recmodel.empirical_audit.membership_scores import control_indices, row_change_scores
from recmodel.empirical_audit.site_updates import kept_rounds, load_kept
from recmodel.empirical_audit.verdict import AUDIT_FILE

SITE_UPDATES, FINAL_MODEL, ITEM_COUNTS = "site updates", "final model", "item counts"
PRIOR = "dlrm.item_prior"  # the summed DP-noised item counts (the popularity prior), a buffer of every model


def canary_scores(run_dir: Path, all_events: Path, canaries: CanarySet, *,
                  seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({view: scores [m]}, the partner of each canary [m] as the run named it); ``seed`` picks the controls.

    Views: ``site updates`` and ``final model`` (``recmodel.empirical_audit.membership_scores``), and, when the
    run released a popularity prior, ``item counts``: each fresh item's summed noised count as the models carry it.
    """
    run_dir = Path(run_dir)
    recorded = json.loads((run_dir / "config.json").read_text())
    config = RunConfig.from_mapping({**recorded["run_config"], "dataset": str(all_events)})
    data = load_federated_data(config, num_partitions=int(recorded["num_partners"]))
    position = {user: row for row, user in enumerate(data.users.user_ids)}
    missing = [u for u in canaries.user_ids if u not in position]
    if missing:
        raise ValueError(f"{all_events}: canary {missing[0]} is not among the data's users")
    site_of_user = np.empty(len(data.users), dtype=object)
    for partition, members in enumerate(data.partitions):
        site_of_user[members] = data.site_name(partition)
    sites = site_of_user[[position[u] for u in canaries.user_ids]].astype(str)
    item_position = {item: p for p, item in enumerate(data.catalogue.item_ids)}
    rows = data.catalogue.item_rows[[item_position[i] for i in canaries.fresh_items]]
    controls = control_indices(len(canaries), seed)

    rounds = kept_rounds(run_dir)
    if not rounds:
        raise ValueError(f"{run_dir}: no kept site updates (run it with keep-site-updates=true)")
    white_box = np.zeros(len(canaries))
    for server_round in rounds:
        before = load_kept(run_dir, server_round, "global")
        for site in np.unique(sites):
            try:
                after = load_kept(run_dir, server_round, site)
            except FileNotFoundError:  # that partner's update was not accepted this round
                continue
            at_site = sites == site
            white_box[at_site] += row_change_scores(before, after, rows, controls)[at_site]
    first = load_kept(run_dir, rounds[0], "global")
    views = {SITE_UPDATES: white_box,
             FINAL_MODEL: row_change_scores(first, load_kept(run_dir, rounds[-1], "aggregate"), rows, controls)}
    prior = first.get(PRIOR)
    if prior is not None and bool(prior.any()):  # popularity-prior: each fresh item's released count
        views[ITEM_COUNTS] = prior[torch.from_numpy(rows)].double().numpy()
    return views, sites


def write_audit(run_dir: Path, report: dict, scores: dict[str, np.ndarray], canaries: CanarySet,
                sites: np.ndarray) -> Path:
    """``privacy/empirical-audit.json``, ``privacy/canary-roc.png``, ``privacy/canary-scores.png`` and
    ``privacy/canaries.json`` (the coins, revealed once the run is over)."""
    from recmodel.empirical_audit.plots import plot_roc, plot_score_histograms

    folder = Path(run_dir) / "privacy"
    folder.mkdir(exist_ok=True)
    plot_roc(scores, canaries.included, folder / "canary-roc.png")
    plot_score_histograms(scores, canaries.included, folder / "canary-scores.png")
    coins = [{"user_id": u, "partner": s, "fresh_item": i, "included": bool(c)}
             for u, s, i, c in zip(canaries.user_ids, sites, canaries.fresh_items, canaries.included)]
    write_atomically(folder / "canaries.json", lambda tmp: tmp.write_text(json.dumps(coins, indent=1)))
    target = folder / AUDIT_FILE
    write_atomically(target, lambda tmp: tmp.write_text(json.dumps(report, indent=2, sort_keys=True)))
    return target
