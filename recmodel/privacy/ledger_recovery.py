"""When a site's ledger was lost or damaged: an explicit, recorded acknowledgement that keeps the spend.

A site whose ledger is shorter than its signed head, rewritten, or gone
refuses to release anything (``LedgerIntegrityError``). An operator who has no
backup to restore acknowledges the loss with
``fedrec site acknowledge-ledger-loss STATE_DIR --note "..." [--evidence RUN/privacy/report.json ...]``:
the damaged ledger is kept aside (renamed, never deleted), and a new ledger
starts with the spend of the latest signed head, as ``carried-over`` entries,
so composition stays exact and nothing is forgotten; the first entry names the
operator's note and the lost head.

The signed heads considered are the site's own ``head.json`` and every copy a
coordinator kept (each reply carries the head with every field under the
site's signature; a run's ``privacy/report.json`` keeps them): only those whose
``file_signature`` verifies with the site's key count, and the one with the
most entries is carried over, so a ``head.json`` restored from an old backup
cannot lower the spend below what the site later signed. A coordinator copy
that is signed but carries no spend (an older fedrec) and is later than every
head with a spend leaves the site refused: its spend is unknown. Without any
signed spend there is nothing trustworthy to carry over and the site stays
refused: restore the state dir from backup.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from recmodel.privacy.accounting import epsilon_of
from recmodel.privacy.ledger import HEAD_FILE, LEDGER_FILE, DPEvent, LedgerIntegrityError, PrivacyLedger
from recmodel.privacy.site_key import has_private_key, head_file_message, head_message, read_public_key, verify

CARRIED_OVER = "carried-over"


def acknowledge_ledger_loss(state_dir: str | Path, *, note: str, evidence: list[dict] = ()) -> Path:
    """Start a new ledger carrying over the latest signed spend; returns where the damaged ledger was kept.

    ``evidence``: signed heads a coordinator kept (``coordinator_heads`` reads them from a run report)."""
    state_dir = Path(state_dir)
    ledger = PrivacyLedger.at_site(state_dir)
    try:
        ledger.check_continuity()
    except LedgerIntegrityError:
        pass
    else:
        raise LedgerIntegrityError(f"state dir {state_dir}: the ledger matches its signed head; nothing to acknowledge")
    head = latest_signed_spend(state_dir, ledger, list(evidence))
    kept = state_dir / f"{LEDGER_FILE}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
    if ledger.path.exists():
        ledger.path.rename(kept)
    accountant = "rdp" if "rdp" in str(head["accountant"]) else "prv"
    history: list[tuple[float, float, int]] = []
    for number, (sigma, rate, mechanism, steps) in enumerate(head["spend"]):
        history.append((sigma, rate, steps))
        ledger.append(DPEvent(
            run_id=f"ledger-loss-acknowledged: {note} (lost head: {head['entries']} entries, {head['head']})",
            round=number, model=CARRIED_OVER, noise_multiplier=sigma, sample_rate=rate, steps=steps,
            max_grad_norm=head["max_grad_norm"], privacy_unit=head["privacy_unit"], delta=head["delta"],
            epsilon=epsilon_of(history, delta=head["delta"], accountant=accountant), accountant=head["accountant"],
            population=head["population"], timestamp=time.time(), partner=head["partner"],
            max_epsilon=head["max_epsilon"], mechanism=mechanism))
    return kept


def latest_signed_spend(state_dir: Path, ledger: PrivacyLedger, evidence: list[dict]) -> dict:
    """The signed head with a spend and the most entries, among ``head.json`` and ``evidence``.

    Raises ``LedgerIntegrityError`` naming why when none can be trusted, or when a signed head without a spend
    is later than every head with one."""
    public_key = ledger.key.public_pem if has_private_key(state_dir) else read_public_key(state_dir)
    if public_key is None:
        raise LedgerIntegrityError(f"state dir {state_dir}: neither the site's signing key nor its public key is "
                                   "there, so no signed head can be verified; restore the state dir from a backup")
    heads: list[dict] = []
    if (state_dir / HEAD_FILE).is_file():
        heads.append(ledger.read_head())  # LedgerIntegrityError when unreadable or edited
    heads += [head for head in evidence if isinstance(head, dict)]
    with_spend = [h for h in heads if "spend" in h and
                  verify(public_key, head_file_message(h), str(h.get("file_signature", "")))]
    signed_only = [h for h in heads if "spend" not in h and _signed_head_count(h, public_key) is not None]
    if not with_spend:
        raise LedgerIntegrityError(
            f"state dir {state_dir}: no head with a spend carries the site's signature ({HEAD_FILE} is gone, "
            f"edited or written by an older fedrec, and {len(evidence)} coordinator cop(ies) given), so the spend "
            "to carry over is unknown; restore the state dir from a backup, or pass a run's privacy/report.json "
            "with --evidence")
    latest = max(with_spend, key=lambda h: int(h["entries"]))
    later = [n for h in signed_only if (n := _signed_head_count(h, public_key)) > int(latest["entries"])]
    if later:
        raise LedgerIntegrityError(
            f"state dir {state_dir}: the site signed a head with {max(later)} entries, but the latest signed spend "
            f"covers {latest['entries']}: the spend after it is unknown; restore the state dir from a backup, or "
            "pass the coordinator's later run report with --evidence")
    return latest


def coordinator_heads(report_path: str | Path) -> list[dict]:
    """Every signed head a run's ``privacy/report.json`` kept, of every partner (the caller's key selects)."""
    try:
        report = json.loads(Path(report_path).read_text(encoding="utf-8"))
        partners = report["partners"]
        return [{"partner": name, **head} for name, row in partners.items() for head in row.get("signed_heads", [])]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise LedgerIntegrityError(f"{report_path}: cannot be read as a run's privacy report with signed heads "
                                   f"({type(error).__name__}: {error})") from None


def _signed_head_count(head: dict, public_key: str) -> int | None:
    """The entry count of a head whose (partner, entries, head) signature is the site's, else None."""
    try:
        count = int(head["entries"])
        message = head_message(str(head.get("partner", "")), count, str(head["head"]))
    except (KeyError, TypeError, ValueError):
        return None
    return count if verify(public_key, message, str(head.get("signature", ""))) else None

