"""fedrec site acknowledge-ledger-loss STATE_DIR --note TEXT: let a site that lost ledger entries release again.

The damaged ledger is kept aside; the new ledger starts with the spend of the
last signed head (nothing is forgotten) and records the acknowledgement.
"""

from __future__ import annotations

from recmodel.errors import DataError


def register(commands) -> None:
    site = commands.add_parser("site", help="partner-site maintenance (ledger recovery)", description=__doc__)
    sub = site.add_subparsers(dest="site_command", required=True)
    ack = sub.add_parser("acknowledge-ledger-loss", help="carry a lost ledger's signed spend into a new ledger",
                         description=__doc__)
    ack.add_argument("state_dir", help="the site's state directory (holding ledger.jsonl, head.json, site_key.pem)")
    ack.add_argument("--note", required=True, help="who acknowledges and why; written into the new ledger")
    ack.add_argument("--evidence", action="append", default=[], metavar="REPORT_JSON",
                     help="a run's privacy/report.json whose signed copies of this site's heads count as evidence "
                          "of its spend (repeatable); the latest signed spend is carried over")
    ack.set_defaults(handler=run_acknowledge)


def run_acknowledge(args) -> int:
    from recmodel.privacy.ledger import LedgerIntegrityError
    from recmodel.privacy.ledger_recovery import acknowledge_ledger_loss, coordinator_heads

    try:
        evidence = [head for path in args.evidence for head in coordinator_heads(path)]
        kept = acknowledge_ledger_loss(args.state_dir, note=args.note, evidence=evidence)
    except LedgerIntegrityError as error:
        raise DataError(str(error)) from None
    print(f"acknowledged: the damaged ledger is kept as {kept}; the new ledger carries over the signed spend")
    return 0
