"""fedrec audit PATH [--site STATE_DIR ...] [--json]: verify signed ledgers and recompute epsilon.

PATH is a run directory (simulation: its partners' ledgers; deployment: give
each site's state directory with --site), a site's state directory, or one
ledger.jsonl. A run directory with a canary audit (privacy/empirical-audit.json,
from python -m simulations.canary_audit) also gets its lower bounds checked against
the ledgers' epsilon. Exit 0 only when every check holds, 1 otherwise.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path


def register(commands) -> None:
    parser = commands.add_parser("audit", help="verify privacy ledgers and recompute epsilon with dp-accounting",
                                 description=__doc__)
    parser.add_argument("path", help="a run directory, a partner state directory, or a ledger.jsonl file")
    parser.add_argument("--site", action="append", default=[], metavar="STATE_DIR",
                        help="a deployed site's state directory, checked against the run directory's report "
                             "(repeat for each site)")
    parser.add_argument("--public-key", metavar="PEM_FILE",
                        help="the site's Ed25519 public key (default: site_key.pub beside each ledger)")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.set_defaults(handler=run)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def run(args) -> int:
    from recmodel.empirical_audit.verdict import audit_problems
    from recmodel.privacy.audit import ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE, audit_path

    from recmodel.errors import DataError

    for where in (args.path, *args.site):
        if not Path(where).exists():
            raise DataError(f"{where}: no such run directory, state directory or ledger file")
    public_key = None
    if args.public_key:
        public_key = Path(args.public_key).read_text(encoding="ascii")
    audits = audit_path(args.path, sites=args.site, public_key=public_key)
    empirical = _empirical_audit(Path(args.path))
    leaks = [] if empirical is None else audit_problems(empirical)
    ok = all(a.ok for a in audits) and not leaks
    if args.json:
        print(json.dumps({"ok": ok, "tolerance": {"absolute": ABSOLUTE_TOLERANCE, "relative": RELATIVE_TOLERANCE},
                          "ledgers": [dict(asdict(a), ok=a.ok) for a in audits], "empirical": empirical}, indent=2))
        return 0 if ok else 1
    print("signatures: Ed25519, each entry and each signed head, with the site's public key; chain: SHA-256")
    print(f"tolerance: |recorded - recomputed| <= max({ABSOLUTE_TOLERANCE}, {RELATIVE_TOLERANCE:.1%} of recomputed); "
          "recomputed with dp-accounting (PLD for Opacus PRV entries, RDP for Opacus RDP entries)")
    for audit in audits:
        delta = f"  delta {audit.delta:g}" if audit.delta is not None else ""
        print(f"\nledger {audit.path}  partner {audit.partner}{delta}")
        if not audit.entries:
            for problem in audit.all_problems():
                print(f"  FAIL: {problem}")
            print(f"  verdict: {'PASS' if audit.ok else 'FAIL'}")
            continue
        print(f"{'line':>4} | {'run':<28} | {'round':>5} | {'model':<10} | {'recorded':>8} | {'PLD':>8} | "
              f"{'RDP':>8} | {'cap':>6} | check")
        for e in audit.entries:
            cap = "-" if e.cap is None else f"{e.cap:g}"
            print(f"{e.line:>4} | {e.run_id[:28]:<28} | {e.round:>5} | {e.model:<10} | {_fmt(e.recorded):>8} | "
                  f"{_fmt(e.pld):>8} | {_fmt(e.rdp):>8} | {cap:>6} | {'ok' if e.ok else 'FAIL'}")
        for kind, release in audit.releases.items():
            print(f"  {kind:<18} {release['count']:>4} release(s), epsilon alone {release['epsilon_alone']:.4f} "
                  f"({release['share']:.1%} of the sum over kinds)")
        for problem in audit.all_problems():
            print(f"  FAIL: {problem}")
        print(f"  verdict: {'PASS' if audit.ok else 'FAIL'}")
    if empirical is not None:
        _print_empirical(empirical, leaks)
    print(f"\noverall: {'PASS' if ok else 'FAIL'} ({sum(a.ok for a in audits)}/{len(audits)} ledgers pass"
          + ("" if empirical is None else f"; canary audit {'FAIL' if leaks else 'PASS'}") + ")")
    return 0 if ok else 1


def _empirical_audit(path: Path) -> dict | None:
    """The run's canary audit report, if it has one."""
    from recmodel.empirical_audit.verdict import AUDIT_FILE

    report = path / "privacy" / AUDIT_FILE if path.is_dir() else None
    return json.loads(report.read_text()) if report is not None and report.is_file() else None


def _print_empirical(report: dict, leaks: list[str]) -> None:
    print(f"\ncanary audit: {report['canaries']} canaries ({report['included']} included); one-run lower bounds at "
          f"{report['confidence']:.0%} confidence beside the ledgers' epsilon")
    for view, rows in report["views"].items():
        for group, row in rows.items():
            ledger = "DP off" if row["ledger_epsilon"] is None else f"{row['ledger_epsilon']:.4f}"
            print(f"  {view:<13} {group:<14} lower bound {row['one_run_epsilon']:.4f}  ledger {ledger}  "
                  f"AUC {row['auc']:.3f}")
    for problem in leaks:
        print(f"  FAIL: {problem}")
