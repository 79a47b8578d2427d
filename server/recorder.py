"""Collects what each round produced and prints the per-round table.

The strategy hands its reply lists to ``aggregate_train`` / ``aggregate_evaluate``
(used as the strategy's metric aggregation functions) and reports refusals
and failures; ``finish_round`` is called from the server-side evaluation and
writes one row per round.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field

from flwr.app import MetricRecord, RecordDict
from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords

from recmodel.metrics.noised_ratio import noised_ratio_std, unreadable
from server.run_directory import RunDirectory


@dataclass
class PartnerState:
    """What the server knows of one partner (from its replies only)."""

    name: str
    node_id: int | None = None
    status: str = "active"  # active | site-check-failed | refused (deployment: a site never says why) | in
    # simulation the kind in the site's own log: budget-exhausted | policy-refused | ledger-integrity |
    # invalid-message | plan-cannot-run | rate-limited | error
    left_out: dict | None = None  # {"round", "status", "reason"} when the partner sits the rest of the run out
    epsilon: float | None = None
    max_epsilon: float | None = None
    noise_multiplier: float | None = None
    sample_rate: float | None = None
    steps: int = 0
    rounds_trained: int = 0
    ledger_entries: int = 0
    ledger_head: str = ""
    key_id: str = ""
    public_key: str = ""  # the site's Ed25519 public key (PEM), as first received
    policy: dict = field(default_factory=dict)  # the site's privacy policy, as it reported it
    signed_heads: list[dict] = field(default_factory=list)  # every signed ledger head received, in order
    releases: dict = field(default_factory=dict)  # the site's DP releases by kind up to its latest head
    epsilon_by_round: dict[int, float] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def received(self, info, *, server_round: int, kind: str) -> None:
        """Keep who the partner is and the signed ledger head of one of its replies."""
        self.node_id = int(info["node-id"])
        self.policy = json.loads(str(info["policy"])) if "policy" in info else self.policy
        if "ledger-head" not in info:
            return
        head = {"round": server_round, "kind": kind, "entries": int(info["ledger-entries"]),
                "head": str(info["ledger-head"]), "signature": str(info["head-signature"]),
                "key_id": str(info["key-id"])}
        if "head-record" in info:  # every field of the site's head.json, signed: spend evidence for the site
            head = {**json.loads(str(info["head-record"])), **head}
        self.signed_heads.append(head)
        self.ledger_entries, self.ledger_head = head["entries"], head["head"]
        self.releases = json.loads(str(info["releases"])) if "releases" in info else {}
        if not self.public_key:
            self.public_key, self.key_id = str(info["public-key"]), head["key_id"]
        elif head["key_id"] != self.key_id:
            self.messages.append(f"round {server_round}: the site signed with key {head['key_id']}, "
                                 f"not the key {self.key_id} it used before")


@dataclass
class RoundRecorder:
    run: RunDirectory
    top_k: int
    baseline: dict
    rows: list[dict] = field(default_factory=list)
    partners: dict[str, PartnerState] = field(default_factory=dict)
    failed_rounds: dict[int, str] = field(default_factory=dict)  # round -> why it failed
    partner_failures: dict[int, dict[str, str]] = field(default_factory=dict)  # round -> {partner: reason}
    _pending: dict = field(default_factory=dict)
    _round: int = 0
    _traffic: dict = field(default_factory=dict)  # "sent" / "received" -> model bytes this round
    _row_started: float = field(default_factory=time.monotonic)

    def _partner(self, name: str) -> PartnerState:
        return self.partners.setdefault(name, PartnerState(name))

    def name_of_node(self, node_id: int, reason: str = "") -> str:
        for state in self.partners.values():
            if state.node_id == node_id:
                return state.name
        match = re.search(r"partner '([^']+)'", reason)
        return match.group(1) if match else f"node-{node_id}"

    @property
    def epsilon_by_partner(self) -> dict[str, float]:
        return {n: p.epsilon for n, p in self.partners.items() if p.epsilon is not None}

    # -- strategy hooks -------------------------------------------------
    def aggregate_train(self, replies: list[RecordDict], weight_key: str) -> MetricRecord:
        """Weighted mean of train metrics; per-partner privacy facts kept aside."""
        trained = {}
        for reply in replies:
            info = reply["partner"]
            metrics = next(iter(reply.metric_records.values()))
            state = self._partner(str(info["partner"]))
            state.received(info, server_round=self._round + 1, kind="train")
            state.rounds_trained += 1
            state.steps += int(metrics["steps"])
            if metrics["epsilon"] >= 0:
                state.epsilon = float(metrics["epsilon"])
                state.epsilon_by_round[self._round + 1] = state.epsilon
                state.max_epsilon = float(metrics["max-epsilon"])
                state.noise_multiplier = float(metrics["noise-multiplier"])
                state.sample_rate = float(metrics["sample-rate"])
            trained[state.name] = {k: float(v) for k, v in metrics.items()}
        self._pending["partners"] = trained
        aggregated = aggregate_metricrecords(replies, weight_key)
        aggregated["epsilon-max"] = max((p.get("epsilon", -1.0) for p in trained.values()), default=-1.0)
        return aggregated

    def aggregate_evaluate(self, replies: list[RecordDict], weight_key: str) -> MetricRecord:
        """Federated NDCG/HR@K: the sum of the partners' noised sums over the sum of their noised counts."""
        totals: dict[str, float] = {}
        noise_stds: list[float] = []
        for reply in replies:
            metrics = next(iter(reply.metric_records.values()))
            state = self._partner(str(reply["partner"]["partner"]))
            state.received(reply["partner"], server_round=self._round + 1, kind="evaluation")
            if metrics["epsilon"] >= 0:  # the evaluation release is in the ledger too
                state.epsilon = state.epsilon_by_round[self._round + 1] = float(metrics["epsilon"])
            for key in ("ndcg-sum", "hr-sum", "count"):
                totals[key] = totals.get(key, 0.0) + float(metrics[key])
            noise_stds.append(float(metrics.get("noise-std", 0.0)))
        k, count = self.top_k, totals.get("count", 0.0)
        # sum / count of noised sums, clipped to [0, 1] (post-processing; with few users the noise dominates)
        ratio = lambda key: min(1.0, max(0.0, totals[key] / count)) if count >= 1 else math.nan  # noqa: E731
        federated = {f"ndcg@{k}": ratio("ndcg-sum"), f"hr@{k}": ratio("hr-sum"), "users-noised": count}
        for name in (f"ndcg@{k}", f"hr@{k}"):  # each figure with the std its noise gives it
            federated[f"{name}-std"] = noised_ratio_std(noise_stds, count, federated[name])
        self._pending["federated"] = federated
        return MetricRecord(federated)

    def site_checks(self, checks) -> None:
        """Name every node that answered the site check (``server.site_checks``); a failed site sits the run out."""
        for node, name in checks.names.items():
            self._partner(name).node_id = node
        for node, reason in sorted(checks.failures.items()):
            state = self._partner(self.name_of_node(node, reason))
            state.node_id, state.status = node, "site-check-failed"
            state.left_out = {"round": 0, "status": state.status, "reason": reason}
            state.messages.append(f"site check: {reason}")
            print(f"site check failed: {reason}; it sits this run out", flush=True)

    def partner_left_out(self, server_round: int, node_id: int, reason: str, status: str) -> None:
        """A refusal (budget, policy, ledger integrity): the partner takes no further part in the run."""
        state = self._partner(self.name_of_node(node_id, reason))
        state.node_id, state.status = node_id, status
        state.left_out = {"round": server_round, "status": status, "reason": reason}
        state.messages.append(f"round {server_round}: {reason}")
        print(f"round {server_round}: {reason} It is left out of later rounds.", flush=True)

    def left_out(self) -> dict[str, dict]:
        """{partner: {"round", "status", "reason"}} of every partner that sits (the rest of) the run out."""
        return {name: state.left_out for name, state in sorted(self.partners.items()) if state.left_out}

    def outcome(self, min_partners: int) -> tuple[str, str]:
        """(status, what to add to the end reason): ``failed`` when a round had fewer than ``min_partners``
        successful partners, ``degraded`` when a partner failed a round or was left out, else ``succeeded``."""
        notes = []
        if self.partner_failures:
            notes.append("partner failures: " + "; ".join(
                f"round {r}: {', '.join(sorted(failures))}" for r, failures in sorted(self.partner_failures.items())))
        if self.left_out():
            notes.append("left out: " + ", ".join(f"{name} ({facts['status']}, round {facts['round']})"
                                                  for name, facts in self.left_out().items()))
        if self.failed_rounds:
            notes.append(f"FAILED rounds {sorted(self.failed_rounds)} (fewer than min-partners={min_partners} "
                         "partners trained)")
        status = "failed" if self.failed_rounds else "degraded" if notes else "succeeded"
        return status, "".join(f"; {note}" for note in notes)

    def round_failed(self, server_round: int, reason: str) -> None:
        """Fewer partners than ``min-partners`` trained: the round does not count."""
        self.failed_rounds[server_round] = reason
        print(f"round {server_round}: FAILED: {reason}", flush=True)

    def update_rejected(self, server_round: int, node_id: int, content: RecordDict, reason: str) -> None:
        """A training reply whose update never reaches the global model; its privacy facts still count."""
        if "partner" in content and "metrics" in content and "epsilon" in content["metrics"]:
            info, epsilon = content["partner"], float(content["metrics"]["epsilon"])
            self._partner(str(info["partner"])).received(info, server_round=server_round, kind="train")
            if epsilon >= 0:  # the site spent the budget all the same
                state = self._partner(str(info["partner"]))
                state.epsilon = state.epsilon_by_round[server_round] = epsilon
        self.partner_failed(server_round, node_id, reason)

    def partner_failed(self, server_round: int, node_id: int, reason: str) -> None:
        state = self._partner(self.name_of_node(node_id, reason))
        state.node_id = node_id
        state.messages.append(f"round {server_round}: failed: {reason}")
        self.partner_failures.setdefault(server_round, {})[state.name] = reason
        print(f"round {server_round}: partner '{state.name}' failed and is left out of this round's "
              f"average: {reason}", flush=True)

    # -- per round ------------------------------------------------------
    def count_traffic(self, messages, *, direction: str) -> None:
        """Add the model bytes (every array record) of ``messages`` to this round's ``sent`` or ``received``."""
        self._traffic[direction] = self._traffic.get(direction, 0) + sum(
            len(array.data) for m in messages if m.has_content()
            for record in m.content.array_records.values() for array in record.values())

    def finish_round(self, server_round: int, central: dict | None) -> dict:
        """Store and print the row of ``server_round`` (0 = before training).

        The row holds its wall time (``seconds``, since the previous row or the
        recorder's start) and the model bytes the server sent and received in
        the round's messages (``bytes``).
        """
        self._round = server_round
        now = time.monotonic()
        seconds, self._row_started = now - self._row_started, now
        traffic, self._traffic = self._traffic, {}
        epsilons = [e for e in self.epsilon_by_partner.values() if e >= 0]
        row = {
            "round": server_round,
            "central": central,
            "federated": self._pending.pop("federated", None),
            "partners": self._pending.pop("partners", {}),
            "epsilon": dict(self.epsilon_by_partner),
            "epsilon_max": max(epsilons) if epsilons else None,
            "seconds": seconds,
            "bytes": {"sent": traffic.get("sent", 0), "received": traffic.get("received", 0)},
        }
        self.rows.append(row)
        self.run.append_metrics(row)
        print(self.format_row(row), flush=True)
        return row

    def header(self) -> str:
        k = self.top_k
        pop = self.baseline
        baseline = (f"popularity baseline: NDCG@{k}={pop[f'ndcg@{k}']:.4f} HR@{k}={pop[f'hr@{k}']:.4f}" if pop else
                    "popularity baseline: left out (deployment: the coordinator has no partner data)")
        return (
            f"{baseline}\n"
            "fed NDCG: the partners' noised answers ± the std of their noise ('?': within two stds of zero, the "
            "figure cannot be read)\n"
            f"{'round':>5} | {'NDCG@' + str(k):>8} | {'HR@' + str(k):>7} | "
            f"{'fed NDCG ± std':>15} | {'cat@5':>6} | {'prior@5':>7} | {'max eps':>7} | trained"
        )

    @staticmethod
    def _with_std(federated: dict, name: str) -> str:
        """``0.1132±0.0021``; a trailing ``?`` when the figure is within two noise stds of zero (unreadable)."""
        value, std = federated.get(name, math.nan), federated.get(f"{name}-std", math.nan)
        if math.isnan(value):
            return "nan"
        return f"{value:.4f}±{std:.4f}" + ("?" if unreadable(value, std) else "")

    def format_row(self, row: dict) -> str:
        k = self.top_k
        central = row["central"] or {}
        federated = row["federated"] or {}
        eps = row["epsilon_max"]
        return (
            f"{row['round']:>5} | {central.get(f'ndcg@{k}', math.nan):>8.4f} | "
            f"{central.get(f'hr@{k}', math.nan):>7.4f} | {self._with_std(federated, f'ndcg@{k}'):>15} | "
            f"{central.get('next-category-top5', math.nan):>6.3f} | {central.get('prior-top5', math.nan):>7.3f} | "
            f"{'-' if eps is None else f'{eps:.3f}':>7} | {len(row['partners'])}"
        )
