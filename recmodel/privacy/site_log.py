"""A site's own log of the messages it refused, with the real reason (``<state-dir>/site-log.jsonl``).

A site answers every refusal alike (``client.refusal``): the coordinator learns that it refused, never why,
so an exception that depends on whether some user exists, or a crafted message that fails only for one user,
tells it nothing. The reason, and for an unexpected error its traceback, go here instead, for the site's
operator. In simulation the server, which plays every site and reads their data anyway, reads this log to
print the reason on the console and says so.

One JSON object per line: ``time`` (seconds since 1970), ``run_id``, ``round``, ``phase``, ``kind``
(``recmodel.privacy.site_log.refusal_kind``), ``detail``. The count of a run's refusals limits how many a
coordinator can trigger (``refusals_in_run``).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

SITE_LOG_FILE = "site-log.jsonl"
REFUSED_CODE = 4030  # the one error code of every refusal a site sends (client.refusal)
REFUSED_REASON = "refused"  # and its one reason

KINDS = {  # exception class name -> kind written to the log (and, in simulation, the partner's status)
    "PolicyRefusal": "policy-refused",
    "BudgetExhausted": "budget-exhausted",
    "LedgerIntegrityError": "ledger-integrity",
    "DamagedLedger": "ledger-integrity",
    "InvalidMessage": "invalid-message",
    "PlanCannotRun": "plan-cannot-run",
    "RefusalLimitReached": "rate-limited",
}


def refusal_kind(error: BaseException) -> str:
    """The log's ``kind`` of an exception: a known refusal, or ``error`` for anything unexpected."""
    return KINDS.get(type(error).__name__, "error")


def log_refusal(state_dir: str | Path, *, run_id: str, server_round: int, phase: str, error: BaseException) -> dict:
    """Append one record (flushed and fsynced) and return it; an unexpected error's traceback is kept too."""
    kind = refusal_kind(error)
    detail = str(error) if kind != "error" else "".join(traceback.format_exception(error)).strip()
    record = {"time": time.time(), "run_id": run_id, "round": int(server_round), "phase": phase, "kind": kind,
              "detail": detail}
    path = Path(state_dir) / SITE_LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return record


def refusals(state_dir: str | Path, run_id: str) -> list[dict]:
    """This run's records, oldest first (a damaged line is skipped: the log is for people, not for accounting)."""
    path = Path(state_dir) / SITE_LOG_FILE
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("run_id") == run_id:
            records.append(record)
    return records


def refusals_in_run(state_dir: str | Path, run_id: str) -> int:
    return len(refusals(state_dir, run_id))
