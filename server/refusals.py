"""What the coordinator can say about a partner's refusal, and whether it is one.

A site answers every refusal alike (``client.refusal``): code ``REFUSED_CODE``, reason ``refused``. In a
deployment that is all the coordinator learns, and it says so. In simulation the server plays every site and
may read their files, so it reads the refusing site's own log (``recmodel.privacy.site_log``) and prints the
real reason, marked as read from the simulated site's log. There, an unexpected error at the site (status
``error``: a damaged data file, a bug) is a failure of the round, not a refusal: the partner is asked again in
the next round, and a run whose partners all fail so ends failed, as it would without the generic answer.
"""

from __future__ import annotations

from pathlib import Path

from recmodel.privacy.site_log import REFUSED_CODE, SITE_LOG_FILE, refusals

GENERIC_STATUS = "refused"
FAILURE_STATUS = "error"  # simulation: the site's log says the refusal was an unexpected error


class RefusalReasons:
    """``run_dir``: the simulation's run directory (sites' state under ``partners/<name>``), None in a deployment."""

    def __init__(self, run_dir: Path | None, run_id: str) -> None:
        self.run_dir, self.run_id = run_dir, run_id

    def explain(self, partner: str) -> tuple[str, str]:
        """(status, one-line reason) for ``partner``'s latest refusal in this run."""
        generic = (GENERIC_STATUS, f"partner '{partner}' refused (a site never says why; its operator finds the "
                                   f"reason in <state-dir>/{SITE_LOG_FILE})")
        if self.run_dir is None:
            return generic
        records = refusals(self.run_dir / "partners" / partner, self.run_id)
        if not records:
            return generic
        limited = records[-1]["kind"] == "rate-limited"
        root = records[0] if limited else records[-1]  # a rate-limited site refuses for its first reason
        kind, detail = str(root["kind"]), str(root["detail"]).strip()
        if kind == "error":  # a traceback: its last line names the exception
            detail = f"unexpected error at partner '{partner}': {detail.splitlines()[-1]}"
        if not detail.startswith(kind):
            detail = f"{kind}: {detail}"
        if limited:
            detail += " (and the site now refuses this run's messages unread: too many refusals)"
        return kind, f"{detail} [from the simulated site's own log]"

    def failure(self, reply, name_of_node) -> str:
        """One line for an error reply from node ``reply.metadata.src_node_id`` (``name_of_node(node) -> name``)."""
        node = reply.metadata.src_node_id
        if reply.error.code == REFUSED_CODE:
            return self.explain(name_of_node(node))[1]
        return f"node {node}: {reply.error.reason}"
