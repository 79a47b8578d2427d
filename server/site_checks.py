"""The coordinator's first message: every connected node's site check, and the run's mode.

Each node answers (``client.site_check``) with its partner name, whether it is a simulated site, and pass or
fail with the reason. All simulated: a **simulation**, where the server may read the simulated data (central
evaluation, baselines) and says so. None simulated: a **deployment**, where the server never opens a partner
data file and builds the model from the declared schema. A mix is refused. A deployed site that fails its
check, or does not answer, sits the run out and is named; the run goes on with the others if at least
``min-partners`` passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from server.message_exchange import send_and_receive

SITE_CHECK_PHASE = "site-check"  # the same string as client.site_check.SITE_CHECK_PHASE


class SiteCheckFailed(RuntimeError):
    """The run cannot start: mixed simulated and deployed nodes, or fewer than min-partners passed."""


@dataclass(frozen=True)
class SiteChecks:
    simulated: bool
    names: dict[int, str]  # node id -> partner name, every node that answered
    passed: list[int]  # node ids that may take part
    failures: dict[int, str] = field(default_factory=dict)  # node id -> why it sits the run out
    users: dict[str, int] = field(default_factory=dict)  # partner -> users (deployed sites that passed)

    @property
    def mode(self) -> str:
        return "simulation" if self.simulated else "deployment"


def run_site_checks(grid: Grid, node_ids: list[int], *, min_partners: int, timeout: float) -> SiteChecks:
    """Ask every node; raise ``SiteCheckFailed`` when the run cannot start."""
    messages = [Message(content=RecordDict({"config": ConfigRecord({"phase": SITE_CHECK_PHASE})}),
                        message_type=MessageType.QUERY, dst_node_id=node) for node in node_ids]
    names, passed, failures, users, simulated = {}, [], {}, {}, set()
    answered = set()
    destinations = {m.object_id: m.metadata.dst_node_id for m in messages}  # the SuperLink answers for dead nodes
    for reply in send_and_receive(grid, messages, timeout=timeout):
        node = destinations.get(reply.metadata.reply_to_message_id, reply.metadata.src_node_id)
        answered.add(node)
        if reply.has_error():
            failures[node] = f"node {node}: no site check: {reply.error.reason}"
            continue
        site = reply.content["site"]
        names[node] = str(site["partner"])
        simulated.add(bool(site["simulated"]))
        if bool(site["passed"]):
            passed.append(node)
            users[names[node]] = int(site["users"])
        else:
            failures[node] = str(site["reason"])
    for node in set(node_ids) - answered:
        failures[node] = f"node {node}: no answer to the site check within {timeout:.0f} s"
    if len(simulated) > 1:
        raise SiteCheckFailed("some nodes are simulated sites and some are deployed sites (data-path in their "
                              "--node-config); a run is either a simulation or a deployment")
    checks = SiteChecks(simulated=simulated != {False}, names=names, passed=sorted(passed), failures=failures,
                        users=users)
    if len(checks.passed) < min_partners:
        raise SiteCheckFailed(f"{len(checks.passed)} site(s) passed the site check, fewer than min-partners="
                              f"{min_partners}: " + ("; ".join(failures.values()) or "no node answered"))
    return checks
