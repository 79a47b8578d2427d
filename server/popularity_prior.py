"""Before round 1: gather every partner's item counts and sum them into the DLRM's item prior.

Each partner answers once with its counts over item rows (Gaussian-noised
and ledgered under DP, ``recmodel.private_popularity``). The coordinator only
adds them up and takes ``log1p(max(0, sum))`` (post-processing). A partner
that refuses or fails is named and left out of the sum; the run goes on (its
round-1 reply will say again why it cannot train).
"""

from __future__ import annotations

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from recmodel.privacy.item_counts import prior_from_counts
from server.recorder import PartnerState, RoundRecorder


def gather_item_prior(grid: Grid, arrays: ArrayRecord, settings: ConfigRecord, *, item_buckets: int,
                      recorder: RoundRecorder, timeout: float = 3600) -> tuple[np.ndarray, dict]:
    """Ask every connected partner for its item counts; returns (prior [item_buckets] float32, facts).

    ``facts``: {"partners": answering partner names, "noise_std": per-row std of each answer,
    "failures": ["node N: reason", ...]}.
    """
    config = ConfigRecord({**dict(settings), "phase": "popularity", "server-round": 0})
    messages = [Message(content=RecordDict({"arrays": arrays, "config": config}), message_type=MessageType.TRAIN,
                        dst_node_id=node) for node in grid.get_node_ids()]
    total = np.zeros(item_buckets, dtype=np.float64)
    facts: dict = {"partners": [], "noise_std": {}, "failures": []}
    for reply in grid.send_and_receive(messages, timeout=timeout):
        if reply.has_error():
            facts["failures"].append(f"node {reply.metadata.src_node_id}: {reply.error.reason}")
            continue
        info, metrics = reply.content["partner"], reply.content["metrics"]
        counts = reply.content["item-counts"].to_torch_state_dict()["counts"].numpy()
        name = str(info["partner"])
        if counts.shape != (item_buckets,) or not np.isfinite(counts).all():
            facts["failures"].append(f"partner '{name}': item counts of shape {counts.shape} (expected "
                                     f"({item_buckets},), finite): left out of the prior")
            continue
        total += counts
        facts["partners"].append(name)
        facts["noise_std"][name] = float(metrics["noise-std"])
        state = recorder.partners.setdefault(name, PartnerState(name))
        state.received(info, server_round=0, kind="popularity")
        if float(metrics["epsilon"]) >= 0:
            state.epsilon = float(metrics["epsilon"])
            state.messages.append(f"item counts for the popularity prior: epsilon now {state.epsilon:.4f}")
    return prior_from_counts(total), facts
