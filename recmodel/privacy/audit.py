"""Independent verification of privacy ledgers (what ``fedrec audit`` runs).

For each ledger: the hash chain (edits, deletions, insertions, reordering);
every entry's Ed25519 signature with the site's public key (so a chain
rebuilt after an edit, or one signed with another key, fails); the required
fields; every cumulative epsilon recomputed from the recorded events with
Google's ``dp-accounting`` (RDP and PLD accountants, no Opacus code involved);
the partner's cap; and delta < 1 / population. Then the cross-checks:

- the site's own signed head (``head.json``) against its ledger: a shortened
  or rewritten ledger at the site;
- the coordinator's record (the run report's ``signed_heads`` and
  ``public_key`` per partner) against the site: every recorded head must
  carry the site's valid signature (a forged or edited coordinator record
  fails) and match the ledger (deleted tail entries or a rewritten ledger
  fail), and the site's key must be the key the coordinator first received.

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

from recmodel.privacy.ledger import GENESIS_HASH, HEAD_FILE, LEDGER_FILE, MECHANISM, entry_hash
from recmodel.privacy.noised_release import GAUSSIAN
from recmodel.privacy.release_summary import releases_by_kind
from recmodel.privacy.site_key import PUBLIC_KEY_FILE, head_file_message, head_message, key_id, verify

PLD_DISCRETISATION = 1e-3  # dp-accounting's PLD grid; pessimistic, 10x faster than its 1e-4 default and within
                           # 1e-4 of it on this project's settings
ABSOLUTE_TOLERANCE = 0.02
RELATIVE_TOLERANCE = 0.005
REQUIRED_FIELDS = ("run_id", "round", "model", "mechanism", "noise_multiplier", "sample_rate", "steps",
                   "max_grad_norm", "privacy_unit", "delta", "epsilon", "accountant", "population",
                   "timestamp", "prev_hash", "hash", "max_epsilon", "signature")


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
    key_id: str = ""
    delta: float | None = None  # the site's delta, as its entries record it (None without entries)
    entries: list[EntryCheck] = field(default_factory=list)
    releases: dict[str, dict] = field(default_factory=dict)  # per release kind: count, epsilon alone, share
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


def _is_release(entry: dict) -> bool:
    """Whether an entry's steps, noise multiplier and sample rate describe a release an accountant can compose."""
    steps, sigma, rate = entry["steps"], entry["noise_multiplier"], entry["sample_rate"]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (sigma, rate))
    return (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1 and numbers
            and sigma > 0 and 0 < rate <= 1)


def _event(entry: dict) -> dp_accounting.DpEvent:
    """The dp-accounting event of one entry: ``steps`` self-composed (Poisson-subsampled) Gaussian steps."""
    gaussian = dp_accounting.GaussianDpEvent(float(entry["noise_multiplier"]))
    if entry["mechanism"] == GAUSSIAN:
        return dp_accounting.SelfComposedDpEvent(gaussian, int(entry["steps"]))
    step = dp_accounting.PoissonSampledDpEvent(float(entry["sample_rate"]), gaussian)
    return dp_accounting.SelfComposedDpEvent(step, int(entry["steps"]))


def audit_ledger(path: str | Path, *, public_key: str | None = None, recorded: dict | None = None) -> LedgerAudit:
    """Check one ledger file.

    ``public_key``: the site's Ed25519 public key (PEM); default: ``site_key.pub`` beside the ledger.
    ``recorded``: the coordinator's record of this partner (run report ``partners[name]``).
    """
    path = Path(path)
    audit = LedgerAudit(str(path), partner="?")
    if not path.is_file():
        audit.problems.append(f"{path}: ledger file not found")
        return audit
    if public_key is None and (path.parent / PUBLIC_KEY_FILE).is_file():
        public_key = (path.parent / PUBLIC_KEY_FILE).read_text(encoding="ascii")
    if public_key is None:
        audit.problems.append(f"{path}: no public key of the site ({PUBLIC_KEY_FILE} beside the ledger, or "
                              "--public-key): the entries' signatures cannot be verified")
    else:
        audit.key_id = key_id(public_key)
    lines = _read_lines(path, audit)
    _check_entries(lines, audit, public_key)
    _summarise_releases(lines, audit)
    head_file = path.parent / HEAD_FILE
    head = _read_head(head_file, audit)
    if audit.partner == "?":  # an emptied ledger: the name comes from the signed heads
        audit.partner = str((head or {}).get("partner") or (recorded or {}).get("name") or "?")
    if head is None and not (recorded or {}).get("signed_heads") and not head_file.is_file():
        audit.problems.append(f"{path}: no signed head anchors this ledger ({HEAD_FILE} beside it, or the "
                              "coordinator's record of the site's signed heads): an emptied or tail-cut ledger "
                              "could not be told from a whole one")
    if head is not None and public_key is not None:
        _check_signed_head(lines, head, public_key, audit, who=f"the site's own signed head ({head_file})")
    if recorded:
        _check_coordinator_record(lines, recorded, public_key, audit)
    return audit


def _read_head(head_file: Path, audit: LedgerAudit) -> dict | None:
    """The site's ``head.json``, or None when absent; an unreadable one is a problem of the audit."""
    if not head_file.is_file():
        return None
    try:
        head = json.loads(head_file.read_text(encoding="utf-8"))
        if isinstance(head, dict):
            return head
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    audit.problems.append(f"{head_file}: cannot be read as a signed head (damaged or edited)")
    return None


def _check_entries(lines: list[tuple[int, dict]], audit: LedgerAudit, public_key: str | None) -> None:
    rdp_accountant, pld_accountant = rdp.RdpAccountant(), pld.PLDAccountant(value_discretization_interval=PLD_DISCRETISATION)
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
            audit.delta = float(entry["delta"])
            check.run_id, check.round, check.model = str(entry["run_id"]), int(entry["round"]), str(entry["model"])
            check.recorded, check.cap = float(entry["epsilon"]), float(entry["max_epsilon"])
            if entry["prev_hash"] != expected_prev:
                check.problems.append(f"line {number}: prev_hash does not match the previous line's hash "
                                      "(a line was deleted, inserted or reordered before it)")
            if entry_hash(entry) != entry["hash"]:
                check.problems.append(f"line {number}: content does not match its hash (the line was edited)")
            if public_key is not None and not verify(public_key, str(entry["hash"]).encode("ascii"),
                                                     str(entry["signature"])):
                check.problems.append(f"line {number}: signature is not the site's (key {key_id(public_key)}): "
                                      "the line was edited and re-hashed, or signed with another key")
            expected_prev = entry["hash"]
            _check_epsilon(entry, check, rdp_accountant, pld_accountant)
    finally:
        logging.disable(logging.NOTSET)


def _check_epsilon(entry: dict, check: EntryCheck, rdp_accountant, pld_accountant) -> None:
    number = check.line
    if entry["mechanism"] not in (MECHANISM, GAUSSIAN):
        check.problems.append(f"line {number}: unknown mechanism '{entry['mechanism']}'")
        return
    if entry["mechanism"] == GAUSSIAN and float(entry["sample_rate"]) != 1.0:
        check.problems.append(f"line {number}: a '{GAUSSIAN}' release must have sample rate 1")
    if not _is_release(entry):
        check.problems.append(f"line {number}: steps {entry['steps']!r}, noise multiplier "
                              f"{entry['noise_multiplier']!r}, sample rate {entry['sample_rate']!r}: not a release "
                              "(steps a whole number >= 1, noise > 0, rate in (0, 1]); left out of the composition")
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


def _summarise_releases(lines: list[tuple[int, dict]], audit: LedgerAudit) -> None:
    """Per release kind (model): count, epsilon of that kind's releases alone (PLD), share of the sum of those."""
    kinds: dict[str, list[dict]] = {}
    for _, entry in lines:
        if all(f in entry for f in ("model", "mechanism", "noise_multiplier", "sample_rate", "steps", "delta")):
            kinds.setdefault(str(entry["model"]), []).append(entry)
    logging.disable(logging.WARNING)
    try:
        for kind, entries in kinds.items():
            accountant = pld.PLDAccountant(value_discretization_interval=PLD_DISCRETISATION)
            for entry in entries:
                if entry["mechanism"] in (MECHANISM, GAUSSIAN) and _is_release(entry):
                    accountant.compose(_event(entry))
            audit.releases[kind] = {"count": len(entries),
                                    "epsilon_alone": float(accountant.get_epsilon(float(entries[-1]["delta"])))}
    finally:
        logging.disable(logging.NOTSET)
    total = sum(r["epsilon_alone"] for r in audit.releases.values())
    for release in audit.releases.values():
        release["share"] = release["epsilon_alone"] / total if total > 0 else 0.0


def _check_signed_head(lines, head: dict, public_key: str, audit: LedgerAudit, *, who: str) -> bool:
    """One signed head against the site's key and the ledger; returns False when its signature is not the site's."""
    count, value = int(head.get("entries", 0)), str(head.get("head", ""))
    if not verify(public_key, head_message(audit.partner, count, value), str(head.get("signature", ""))):
        audit.problems.append(f"{who}: head ({count} entries, {value[:12]}...) does not carry the site's signature: "
                              "a forged or edited record")
        return False
    if "file_signature" in head and not verify(public_key, head_file_message(head), str(head["file_signature"])):
        audit.problems.append(f"{who}: its fields (spend, epsilon, ...) do not carry the site's signature: "
                              "the head was edited")
    if len(lines) < count:
        audit.problems.append(f"{who}: the site signed a head with {count} entries but the ledger has "
                              f"{len(lines)}: entries {len(lines) + 1}..{count} were deleted at the site")
    elif count and lines[count - 1][1].get("hash") != value:
        audit.problems.append(f"{who}: ledger entry {count} differs from the head the site signed: the ledger "
                              "was rewritten")
    return True


def _check_coordinator_record(lines, recorded: dict, public_key: str | None, audit: LedgerAudit) -> None:
    recorded_key = str(recorded.get("public_key") or "")
    if recorded_key and public_key is not None and recorded_key.strip() != public_key.strip():
        audit.problems.append(f"the site's public key ({key_id(public_key)}) is not the key the coordinator "
                              f"recorded ({key_id(recorded_key)}): one of them was replaced")
    key = public_key or recorded_key or None
    if key is None:
        return
    for head in recorded.get("signed_heads", []):
        _check_signed_head(lines, head, key, audit,
                           who=f"coordinator's record (round {head.get('round')}, {head.get('kind')})")
    _check_reported_figures(lines, recorded, audit)
    reported = recorded.get("releases")
    if reported:
        count = int(recorded.get("ledger_entries") or len(lines))
        recomputed = releases_by_kind([entry for _, entry in lines[:count]])
        if reported != recomputed:
            audit.problems.append(f"the report's releases by kind differ from those of the site's first {count} ledger "
                                  f"entries: {release_differences(reported, recomputed)}")


REPORTED_FIGURES = (("epsilon", "epsilon"), ("max_epsilon", "max_epsilon"))  # (report field, ledger field)


def _check_reported_figures(lines, recorded: dict, audit: LedgerAudit) -> None:
    """The coordinator's figures for this partner (its run report and summary.json) against the ledger entry
    they were read after: any difference names the file and the field."""
    count = int(recorded.get("ledger_entries") or 0)
    if not count or count > len(lines):
        return  # no head recorded, or a ledger shorter than the head: named by the signed-head checks
    entry = lines[count - 1][1]
    sources = [("privacy/report.json", "partners.{partner}.{field}", recorded)]
    if isinstance(recorded.get("summary"), dict):
        sources.append(("summary.json", "privacy.{field}.{partner}", recorded["summary"]))
    for where, name, record in sources:
        for reported_field, ledger_field in REPORTED_FIGURES:
            said, kept = record.get(reported_field), entry.get(ledger_field)
            if said is None or kept is None:
                continue
            if not isinstance(said, (int, float)) or abs(float(said) - float(kept)) > 1e-9 * max(1.0, abs(kept)):
                field = name.format(partner=audit.partner, field=reported_field)
                audit.problems.append(f"{where}: {field} = {said}, but ledger entry {count} (the head the "
                                      f"coordinator recorded) says {kept}: the file was edited")
    for round_number, said in (recorded.get("epsilon_by_round") or {}).items():
        if not any(isinstance(said, (int, float)) and abs(float(said) - float(e.get("epsilon", -1))) <= 1e-9
                   for _, e in lines[:count]):
            audit.problems.append(f"privacy/report.json: partners.{audit.partner}.epsilon_by_round.{round_number} = "
                                  f"{said} is no epsilon the ledger ever recorded: the report was edited")


def release_differences(reported: dict, recomputed: dict) -> str:
    """One readable clause per differing figure, e.g. ``dlrm steps: report 79, ledger 80``."""
    clauses = []
    for kind in sorted(set(reported) | set(recomputed), key=str):
        said, kept = reported.get(kind), recomputed.get(kind)
        if said is None or kept is None:
            clauses.append(f"{kind}: {'only in the ledger' if said is None else 'only in the report'}")
            continue
        clauses += [f"{kind} {name}: report {said.get(name)}, ledger {kept.get(name)}"
                    for name in sorted(set(said) | set(kept)) if said.get(name) != kept.get(name)]
    return "; ".join(clauses)


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
        rdp_accountant, pld_accountant = rdp.RdpAccountant(), pld.PLDAccountant(value_discretization_interval=PLD_DISCRETISATION)
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


def audit_path(path: str | Path, *, sites: list[str | Path] = (), public_key: str | None = None) -> list[LedgerAudit]:
    """Audit a ledger file, a site's state directory, or a run directory (all its partners).

    ``sites``: state directories of deployed partners, checked against the run
    directory's report (a deployed coordinator holds no ledger).
    """
    path = Path(path)
    if path.is_file():
        return [audit_ledger(path, public_key=public_key)]
    recorded, central = {}, None
    report = path / "privacy" / "report.json"
    if report.is_file():
        content = json.loads(report.read_text())
        recorded, central = content.get("partners", {}), content.get("central_dp")
        summary = _summary_privacy(path / "summary.json")
        for name, record in recorded.items():  # summary.json's figures are checked with the report's
            record["summary"] = {field: (summary.get(field) or {}).get(name) for field in ("epsilon", "max_epsilon")}
    ledgers = {p.parent.name: p for p in sorted(path.glob(f"partners/*/{LEDGER_FILE}"))}
    if (path / LEDGER_FILE).is_file():
        ledgers[path.name] = path / LEDGER_FILE
    for site in map(Path, sites):
        ledgers[_partner_of(site / LEDGER_FILE) or site.name] = site / LEDGER_FILE
    if not ledgers:
        missing = LedgerAudit(str(path), partner="-")
        if recorded:  # a deployed run: the coordinator holds the sites' signed heads, the sites their ledgers
            missing.problems.append(f"{path} is a deployed run: its ledgers stay at the sites; give each site's state "
                                    f"directory (or a copy of its {LEDGER_FILE} and site_key.pub) with --site, for "
                                    f"partners {', '.join(sorted(recorded))}")
        else:
            missing.problems.append(f"{path}: no {LEDGER_FILE} found (expected partners/*/{LEDGER_FILE}, "
                                    f"{LEDGER_FILE}, or a deployed site's state dir given with --site)")
        return [missing]
    audits = [audit_ledger(ledger, public_key=public_key, recorded=recorded.get(name))
              for name, ledger in ledgers.items()]
    for name in sorted(set(recorded) - set(ledgers)):
        if recorded[name].get("signed_heads"):
            gone = LedgerAudit(str(path / "partners" / name / LEDGER_FILE), partner=name)
            gone.problems.append(f"partner '{name}' is in the run report but its ledger is missing "
                                 "(for a deployed run, pass each site's state dir with --site)")
            audits.append(gone)
    if central:
        audits.append(audit_central_dp(central, str(report)))
    return audits


def _summary_privacy(path: Path) -> dict:
    """summary.json's ``privacy`` section ({} when the run has no summary yet)."""
    try:
        section = json.loads(path.read_text()).get("privacy") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return section if isinstance(section, dict) else {}


def _partner_of(ledger: Path) -> str | None:
    """The partner name written in a ledger's first entry (None when unreadable or empty)."""
    try:
        first = ledger.read_text(encoding="utf-8").splitlines()[0]
        return str(json.loads(first)["partner"])
    except (OSError, IndexError, KeyError, json.JSONDecodeError):
        return None
