"""After the rounds: send one model to every partner still in the run for one phase, collect the answers."""

from __future__ import annotations

from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from server.message_exchange import send_and_receive
from server.recorder import RoundRecorder
from server.refusals import RefusalReasons


def ask_partners(grid: Grid, arrays: ArrayRecord, settings: ConfigRecord, *, phase: str, kind: str, message_type: str,
                 exclude: set[int], recorder: RoundRecorder, timeout: float,
                 refusals: RefusalReasons | None = None) -> tuple[dict[str, dict[str, float]], list[str]]:
    """({partner: its reply's metrics}, [one line per failed partner]) for ``phase`` at server-round 0.

    Each answering partner's signed ledger head is kept (as a ``kind`` head), and its epsilon updated when the
    answer was a DP release.
    """
    config = ConfigRecord({**dict(settings), "phase": phase, "server-round": 0})
    nodes = [n for n in grid.get_node_ids() if n not in exclude]
    messages = [Message(content=RecordDict({"arrays": arrays, "config": config}), message_type=message_type,
                        dst_node_id=node) for node in nodes]
    partners, failures = {}, []
    for reply in send_and_receive(grid, messages, timeout=timeout):
        if reply.has_error():
            failures.append((refusals or RefusalReasons(None, "")).failure(reply, recorder.name_of_node))
            continue
        info, metrics = reply.content["partner"], next(iter(reply.content.metric_records.values()))
        name = str(info["partner"])
        partners[name] = {key: float(value) for key, value in metrics.items()}
        state = recorder.partners.get(name)
        if state is not None:
            state.received(info, server_round=0, kind=kind)
            if metrics["epsilon"] >= 0:
                state.epsilon = float(metrics["epsilon"])
                state.messages.append(f"{kind}: epsilon now {state.epsilon:.4f}")
    return partners, failures
