"""Collects what each round produced and prints the per-round table.

The strategy hands its reply lists to ``aggregate_train`` / ``aggregate_evaluate``
(used as the strategy's metric aggregation functions); ``finish_round`` is
called from the server-side evaluation and writes one row per round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from flwr.app import MetricRecord, RecordDict
from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords

from server.run_directory import RunDirectory


@dataclass
class RoundRecorder:
    run: RunDirectory
    top_k: int
    baseline: dict
    rows: list[dict] = field(default_factory=list)
    epsilon_by_partner: dict[str, float] = field(default_factory=dict)
    _pending: dict = field(default_factory=dict)

    # -- strategy hooks -------------------------------------------------
    def aggregate_train(self, replies: list[RecordDict], weight_key: str) -> MetricRecord:
        """Weighted mean of train metrics, plus per-partner epsilon kept aside."""
        partners = {}
        for reply in replies:
            name = str(reply["partner"]["partner"]) if "partner" in reply else "?"
            metrics = next(iter(reply.metric_records.values()))
            partners[name] = {k: float(v) for k, v in metrics.items()}
            if metrics.get("epsilon", -1.0) >= 0:
                self.epsilon_by_partner[name] = float(metrics["epsilon"])
        self._pending["partners"] = partners
        aggregated = aggregate_metricrecords(replies, weight_key)
        aggregated["epsilon-max"] = max((p.get("epsilon", -1.0) for p in partners.values()), default=-1.0)
        return aggregated

    def aggregate_evaluate(self, replies: list[RecordDict], weight_key: str) -> MetricRecord:
        aggregated = aggregate_metricrecords(replies, weight_key)
        self._pending["federated"] = {k: float(v) for k, v in aggregated.items()}
        return aggregated

    # -- per round ------------------------------------------------------
    def finish_round(self, server_round: int, central: dict | None) -> dict:
        """Store and print the row of ``server_round`` (0 = before training)."""
        epsilons = [e for e in self.epsilon_by_partner.values() if e >= 0]
        row = {
            "round": server_round,
            "central": central,
            "federated": self._pending.pop("federated", None),
            "partners": self._pending.pop("partners", {}),
            "epsilon_max": max(epsilons) if epsilons else None,
        }
        self.rows.append(row)
        self.run.append_metrics(row)
        print(self.format_row(row), flush=True)
        return row

    def header(self) -> str:
        k = self.top_k
        pop = self.baseline
        return (
            f"popularity baseline: NDCG@{k}={pop.get(f'ndcg@{k}', math.nan):.4f} "
            f"HR@{k}={pop.get(f'hr@{k}', math.nan):.4f}\n"
            f"{'round':>5} | {'NDCG@' + str(k):>8} | {'HR@' + str(k):>7} | "
            f"{'fed NDCG':>8} | {'max eps':>7}"
        )

    def format_row(self, row: dict) -> str:
        k = self.top_k
        central = row["central"] or {}
        federated = row["federated"] or {}
        eps = row["epsilon_max"]
        return (
            f"{row['round']:>5} | {central.get(f'ndcg@{k}', math.nan):>8.4f} | "
            f"{central.get(f'hr@{k}', math.nan):>7.4f} | {federated.get(f'ndcg@{k}', math.nan):>8.4f} | "
            f"{'-' if eps is None else f'{eps:.3f}':>7}"
        )
