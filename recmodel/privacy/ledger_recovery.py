"""When a site's ledger was lost or damaged: an explicit, recorded acknowledgement that keeps the spend.

A site whose ledger is shorter than its signed head, rewritten, or gone
refuses to release anything (``LedgerIntegrityError``). An operator who has no
backup to restore acknowledges the loss with
``fedrec site acknowledge-ledger-loss STATE_DIR --note "..."``: the damaged
ledger is kept aside (renamed, never deleted), and a new ledger starts with
the spend the last signed head recorded (``head.json`` keeps every distinct
mechanism and its total steps), as ``carried-over`` entries, so composition
stays exact and nothing is forgotten; the first entry names the operator's
note and the lost head. Without ``head.json``, or with a head whose fields do
not carry the site's signature (``file_signature``: edited by hand, or written
before the signature existed), there is no trustworthy record of the spend to
carry over and the site stays refused: restore the state dir from backup.
"""

from __future__ import annotations

import time
from pathlib import Path

from recmodel.privacy.accounting import epsilon_of
from recmodel.privacy.ledger import HEAD_FILE, LEDGER_FILE, DPEvent, LedgerIntegrityError, PrivacyLedger

CARRIED_OVER = "carried-over"


def acknowledge_ledger_loss(state_dir: str | Path, *, note: str) -> Path:
    """Start a new ledger carrying over the last signed spend; returns where the damaged ledger was kept."""
    state_dir = Path(state_dir)
    ledger = PrivacyLedger.at_site(state_dir)
    head_path = state_dir / HEAD_FILE
    try:
        ledger.check_continuity()
    except LedgerIntegrityError:
        pass
    else:
        raise LedgerIntegrityError(f"state dir {state_dir}: the ledger matches its signed head; nothing to acknowledge")
    if not head_path.is_file():
        raise LedgerIntegrityError(f"state dir {state_dir}: {HEAD_FILE} is gone too, so the spend to carry over is "
                                   "unknown; restore the state dir from a backup")
    head = ledger.read_head()  # LedgerIntegrityError when unreadable or edited
    if "file_signature" not in head:
        raise LedgerIntegrityError(f"state dir {state_dir}: {HEAD_FILE} has no signature over its spend (written by "
                                   "an older fedrec), so its spend cannot be trusted to carry over; restore the "
                                   "state dir from a backup")
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
