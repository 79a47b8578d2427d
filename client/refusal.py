"""One answer for every refusal: the coordinator learns that the site refused, never why.

A refusal's reason can be an oracle: an exception raised only when some user holds a certain row, or a check
that fails only for one user's data, would tell a malicious coordinator who is present, for free and as often
as it asks. So a site answers every refusal (its policy, its budget, its ledger, an invalid message, a plan it
cannot run, any unexpected error) with the same ``Error(code=REFUSED_CODE, reason=REFUSED_REASON)``, and
writes the real reason (a traceback for an unexpected error) to its own log
(``recmodel.privacy.site_log``), or to the ``fedrec.site`` logger when it does not know its state directory
yet. After ``MAX_REFUSALS_PER_RUN`` refusals in one run it refuses every further message of that run without
looking at it: retries cost the coordinator, not the site.
"""

from __future__ import annotations

import logging

from flwr.app import Error, Message

from recmodel.privacy.site_log import REFUSED_CODE, REFUSED_REASON, log_refusal, refusals_in_run

MAX_REFUSALS_PER_RUN = 3
LOGGER = logging.getLogger("fedrec.site")


class RefusalLimitReached(Exception):
    """The run already had ``MAX_REFUSALS_PER_RUN`` refusals at this site."""


def check_refusal_limit(state_dir, run_id: str) -> None:
    """Raise ``RefusalLimitReached`` once the run has used up its refusals at this site."""
    count = refusals_in_run(state_dir, run_id)
    if count >= MAX_REFUSALS_PER_RUN:
        raise RefusalLimitReached(f"run {run_id} already had {count} refusals at this site (limit "
                                  f"{MAX_REFUSALS_PER_RUN}); every further message of the run is refused unread")


def refuse(msg: Message, error: BaseException, *, state_dir=None, run_id: str = "", server_round: int = 0,
           phase: str = "") -> Message:
    """Log ``error`` at the site, then answer ``msg`` with the one generic refusal."""
    if state_dir is not None:
        try:
            log_refusal(state_dir, run_id=run_id, server_round=server_round, phase=phase, error=error)
        except OSError:  # the log is for people: a full disk must not turn a refusal into a different answer
            LOGGER.exception("could not write the site log in %s", state_dir)
    else:
        LOGGER.error("refused a %s message of run %r: %s: %s", phase or "coordinator", run_id,
                     type(error).__name__, error)
    return Message(error=Error(code=REFUSED_CODE, reason=REFUSED_REASON), reply_to=msg)
