"""The canary audit's verdict: lower bounds per view and partner beside the ledgers' epsilon.

Per view (``site updates``, ``final model``): the bound over all canaries against the largest epsilon any
partner spent (each canary lives at one partner, so the run is that epsilon-DP for every canary), and per
partner the bound from its own canaries against its own epsilon. A bound above the epsilon it is compared with
is a leak: ``passed`` is false. With DP off there is no epsilon to compare with: the figures show how much an
unprotected run leaks. Each figure holds at the stated confidence on its own.
"""

from __future__ import annotations

import numpy as np

from recmodel.empirical_audit.canaries import CanarySet
from recmodel.empirical_audit.lower_bounds import empirical_epsilon

AUDIT_FILE = "empirical-audit.json"


def audit_report(scores: dict[str, np.ndarray], sites: np.ndarray, canaries: CanarySet, summary: dict, *,
                 confidence: float = 0.95) -> dict:
    """The report: per view, the bound over all canaries and per partner, beside the ledgers' epsilon."""
    privacy = summary.get("privacy") or {}
    spent = (privacy.get("epsilon") or {}) if privacy.get("dp") else {}
    delta = float(privacy.get("delta") or 0.0) if privacy.get("dp") else 0.0
    views = {}
    for view, values in scores.items():
        groups = {"all partners": np.ones(len(values), dtype=bool)} | {site: sites == site for site in np.unique(sites)}
        rows = {}
        for group, members in groups.items():
            found = empirical_epsilon(values[members], canaries.included[members], delta=delta, confidence=confidence)
            ledger = (max(spent.values(), default=None) if group == "all partners" else spent.get(group))
            rows[group] = {**found.to_dict(), "ledger_epsilon": ledger,
                           "exceeds_ledger": ledger is not None and found.one_run_epsilon > ledger}
        views[view] = rows
    passed = not any(row["exceeds_ledger"] for rows in views.values() for row in rows.values())
    return {"method": "one-run (Steinke, Nasr and Jagielski 2023), Bonferroni over fixed guess counts",
            "confidence": confidence, "dp": bool(privacy.get("dp")), "delta": delta, "canaries": len(canaries),
            "included": int(canaries.included.sum()), "views": views, "passed": passed}


def audit_problems(report: dict) -> list[str]:
    """One line per bound above the epsilon it is compared with (empty: the audit passes)."""
    return [f"{view}, {group}: empirical epsilon >= {row['one_run_epsilon']:.2f} at {report['confidence']:.0%} "
            f"confidence, above the ledger's {row['ledger_epsilon']:.2f}: the mechanism leaks more than it records"
            for view, rows in report["views"].items() for group, row in rows.items() if row["exceeds_ledger"]]

