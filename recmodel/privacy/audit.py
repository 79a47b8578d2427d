"""Independent verification of privacy ledgers (what ``fedrec audit`` runs).

For each ledger: the hash chain (edits, deletions, insertions, reordering),
the required fields, every cumulative epsilon recomputed from the recorded
events with Google's ``dp-accounting`` (RDP and PLD accountants, no Opacus
code involved), the partner's cap, and delta < 1 / population. A run
directory's privacy report also anchors each ledger's length and head hash,
which catches lines deleted from the end.

Tolerance: a recorded epsilon matches when it is within
``max(0.02, 0.5% of the reference)`` of dp-accounting's value for the same
accountant family (PLD for Opacus's PRV, RDP for Opacus's RDP). The two
implementations discretise differently: on this project's settings they
differ by about 0.01.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import dp_accounting
from dp_accounting import pld, rdp

from recmodel.privacy.ledger import GENESIS_HASH, MECHANISM, entry_hash

ABSOLUTE_TOLERANCE = 0.02
RELATIVE_TOLERANCE = 0.005
REQUIRED_FIELDS = ("run_id", "round", "model", "mechanism", "noise_multiplier", "sample_rate", "steps",
                   "max_grad_norm", "privacy_unit", "delta", "epsilon", "accountant", "population",
                   "timestamp", "prev_hash", "hash", "max_epsilon")


def within_tolerance(recorded: float, reference: float) -> bool:
    return abs(recorded - reference) <= max(ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE * reference)


@dataclass
class EntryCheck:
    line: int
    run_id: str = ""
    round: int = 0
    model: str = ""
    recorded: float | None = None
    rdp: float | None = None
    pld: float | None = None
    cap: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class LedgerAudit:
    path: str
    partner: str
    entries: list[EntryCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(e.ok for e in self.entries)

    def all_problems(self) -> list[str]:
        return self.problems + [p for e in self.entries for p in e.problems]


def _read_lines(path: Path, audit: LedgerAudit) -> list[tuple[int, dict]]:
    parsed = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            audit.problems.append(f"line {number}: not valid JSON ({error.msg})")
    return parsed


def _event(entry: dict) -> dp_accounting.DpEvent:
    step = dp_accounting.PoissonSampledDpEvent(float(entry["sample_rate"]),
                                               dp_accounting.GaussianDpEvent(float(entry["noise_multiplier"])))
    return dp_accounting.SelfComposedDpEvent(step, int(entry["steps"]))


def audit_ledger(path: str | Path, *, anchor: dict | None = None) -> LedgerAudit:
    """Check one ledger file. ``anchor``: {"ledger_entries": n, "ledger_head": hash} from a run report."""
    path = Path(path)
    audit = LedgerAudit(str(path), partner="?")
    if not path.is_file():
        audit.problems.append(f"{path}: ledger file not found")
        return audit
    lines = _read_lines(path, audit)
    rdp_accountant, pld_accountant = rdp.RdpAccountant(), pld.PLDAccountant()
    expected_prev = GENESIS_HASH
    logging.disable(logging.WARNING)  # dp-accounting logs every excluded RDP order
    try:
        for number, entry in lines:
            check = EntryCheck(line=number)
            audit.entries.append(check)
            missing = [f for f in REQUIRED_FIELDS if f not in entry]
            if missing:
                check.problems.append(f"line {number}: missing field(s) {', '.join(missing)}")
                continue
            audit.partner = str(entry.get("partner", audit.partner))
            check.run_id, check.round, check.model = str(entry["run_id"]), int(entry["round"]), str(entry["model"])
            check.recorded, check.cap = float(entry["epsilon"]), float(entry["max_epsilon"])
            if entry["prev_hash"] != expected_prev:
                check.problems.append(f"line {number}: prev_hash does not match the previous line's hash "
                                      "(a line was deleted, inserted or reordered before it)")
            if entry_hash(entry) != entry["hash"]:
                check.problems.append(f"line {number}: content does not match its hash (the line was edited)")
            expected_prev = entry["hash"]
            _check_entry(entry, check, rdp_accountant, pld_accountant)
    finally:
        logging.disable(logging.NOTSET)
    if anchor:
        _check_anchor(lines, anchor, audit)
    return audit


def _check_entry(entry: dict, check: EntryCheck, rdp_accountant, pld_accountant) -> None:
    number = check.line
    if entry["mechanism"] != MECHANISM:
        check.problems.append(f"line {number}: unknown mechanism '{entry['mechanism']}'")
        return
    delta = float(entry["delta"])
    event = _event(entry)
    rdp_accountant.compose(event)
    pld_accountant.compose(event)
    check.rdp = float(rdp_accountant.get_epsilon(delta))
    check.pld = float(pld_accountant.get_epsilon(delta))
    reference = check.rdp if "rdp" in str(entry["accountant"]) else check.pld
    if not within_tolerance(check.recorded, reference):
        check.problems.append(f"line {number}: recorded epsilon {check.recorded:.4f} differs from the "
                              f"recomputed {reference:.4f} beyond tolerance")
    if check.recorded > check.cap or min(check.pld, check.rdp) > check.cap + ABSOLUTE_TOLERANCE:
        check.problems.append(f"line {number}: epsilon {check.recorded:.4f} (recomputed PLD {check.pld:.4f}) "
                              f"exceeds the cap {check.cap:g}")
    population = int(entry["population"])
    if population <= 0 or delta >= 1.0 / population:
        check.problems.append(f"line {number}: delta {delta:g} is not below 1/population (population {population})")


def _check_anchor(lines: list[tuple[int, dict]], anchor: dict, audit: LedgerAudit) -> None:
    count, head = int(anchor.get("ledger_entries", 0)), str(anchor.get("ledger_head", ""))
    if count == 0:
        return
    if len(lines) < count:
        audit.problems.append(f"ledger has {len(lines)} entries but the run report recorded {count}: "
                              f"line(s) {len(lines) + 1}..{count} were deleted")
    elif lines[count - 1][1].get("hash") != head:
        audit.problems.append(f"line {lines[count - 1][0]}: hash differs from the head the run report recorded")


def audit_central_dp(section: dict, where: str) -> LedgerAudit:
    """Recompute a run report's central-DP epsilon (Gaussian, no amplification, ``releases`` times)."""
    audit = LedgerAudit(where, partner="central DP (server)")
    check = EntryCheck(line=0, run_id="report.json", round=int(section.get("releases", 0)), model="aggregate")
    audit.entries.append(check)
    if not section.get("releases"):
        return audit
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.GaussianDpEvent(float(section["noise_multiplier"])), int(section["releases"]))
    logging.disable(logging.WARNING)
    try:
        rdp_accountant, pld_accountant = rdp.RdpAccountant(), pld.PLDAccountant()
        rdp_accountant.compose(event)
        pld_accountant.compose(event)
        check.rdp = float(rdp_accountant.get_epsilon(float(section["delta"])))
        check.pld = float(pld_accountant.get_epsilon(float(section["delta"])))
    finally:
        logging.disable(logging.NOTSET)
    check.recorded = section.get("epsilon")
    if check.recorded is None or not within_tolerance(float(check.recorded), check.rdp):
        check.problems.append(f"{where}: central DP epsilon {check.recorded} differs from the recomputed "
                              f"RDP {check.rdp:.4f}")
    return audit


def audit_path(path: str | Path) -> list[LedgerAudit]:
    """Audit a ledger file, a partner state directory, or a run directory (all its partners)."""
    path = Path(path)
    if path.is_file():
        return [audit_ledger(path)]
    anchors, central = {}, None
    report = path / "privacy" / "report.json"
    if report.is_file():
        content = json.loads(report.read_text())
        anchors, central = content.get("partners", {}), content.get("central_dp")
    ledgers = sorted(path.glob("partners/*/ledger.jsonl")) or sorted(path.glob("ledger.jsonl"))
    if not ledgers:
        missing = LedgerAudit(str(path), partner="-")
        missing.problems.append(f"{path}: no ledger.jsonl found (expected partners/*/ledger.jsonl or ledger.jsonl)")
        return [missing]
    audits = []
    for ledger in ledgers:
        audit = audit_ledger(ledger, anchor=anchors.get(ledger.parent.name))
        audits.append(audit)
    reported = set(anchors) - {ledger.parent.name for ledger in ledgers}
    for name in sorted(reported):
        if anchors[name].get("ledger_entries"):
            gone = LedgerAudit(str(path / "partners" / name / "ledger.jsonl"), partner=name)
            gone.problems.append(f"partner '{name}' is in the run report but its ledger is missing")
            audits.append(gone)
    if central:
        audits.append(audit_central_dp(central, str(report)))
    return audits
