"""Before round 1: one message to every partner, answered with its pre-flight facts.

Each partner answers with its planned DP-SGD settings and their
noise-to-signal ratio (``recmodel.privacy.preflight``; printed here, with a
warning where the noise is likely to drown the signal) and, with
``popularity-prior``, its item counts over item rows (Gaussian-noised and
ledgered under DP, ``recmodel.private_popularity``). The coordinator only
adds the counts up and takes ``log1p(max(0, sum))`` (post-processing).

Under DP each site first checks that the whole planned run fits its cap
(``recmodel.training.release_plan.check_whole_run_fits``), so a run that could
not finish is refused before any training. A partner that refuses is left out
of the run (``server.app``), and a run left with fewer than ``min-partners``
ends before round 1 with one line per refusal; a partner that fails otherwise
is named, and its round-1 reply says again why it cannot train.
"""

from __future__ import annotations

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from recmodel.metrics.noised_ratio import expected_ratio_std
from recmodel.privacy.item_counts import prior_from_counts
from recmodel.privacy.noised_release import l2_sensitivity
from recmodel.privacy.site_log import REFUSED_CODE
from recmodel.privacy.preflight import preflight_line
from server.console import progress
from server.message_exchange import send_and_receive
from server.recorder import PartnerState, RoundRecorder
from server.refusals import RefusalReasons

FEDERATED_STD_WARNING = 0.01  # NDCG: round-to-round changes on real logs are 0.005-0.01, lost in a larger std


def run_preflight(grid: Grid, arrays: ArrayRecord, settings: ConfigRecord, *, node_ids: list[int], item_buckets: int,
                  recorder: RoundRecorder, timeout: float = 3600,
                  refusals: RefusalReasons | None = None) -> tuple[np.ndarray | None, dict]:
    """Ask the partners ``node_ids``; returns (item prior [item_buckets] float32 or None, facts).

    ``facts``: {"partners": answering partner names, "noise_std": per-row std of each item-count answer,
    "noise_to_signal": per partner (DP only), "examples": declared users per partner,
    "failures": ["node N: reason", ...], "refused": [[node, status, reason], ...] of the partners that refused}.
    """
    config = ConfigRecord({**dict(settings), "phase": "preflight", "server-round": 0})
    messages = [Message(content=RecordDict({"arrays": arrays, "config": config}), message_type=MessageType.TRAIN,
                        dst_node_id=node) for node in node_ids]
    total, counted = np.zeros(item_buckets, dtype=np.float64), 0
    facts: dict = {"partners": [], "noise_std": {}, "noise_to_signal": {}, "examples": {}, "failures": [],
                   "refused": []}
    refusals = refusals or RefusalReasons(None, "")
    for reply in send_and_receive(grid, messages, timeout=timeout):
        if reply.has_error():
            reason = refusals.failure(reply, recorder.name_of_node)
            facts["failures"].append(reason)
            if reply.error.code == REFUSED_CODE:  # [node, status, reason]: the run leaves it out (server.app)
                node = reply.metadata.src_node_id
                status = refusals.explain(recorder.name_of_node(node))[0]
                facts["refused"].append([node, status, reason])
            continue
        info, metrics = reply.content["partner"], reply.content["metrics"]
        name = str(info["partner"])
        facts["examples"][name] = int(metrics["examples"])
        if "noise-to-signal" in metrics:
            facts["noise_to_signal"][name] = float(metrics["noise-to-signal"])
            progress(preflight_line(name, examples=int(metrics["examples"]),
                                    noise_multiplier=float(metrics["noise-multiplier"]),
                                    sample_rate=float(metrics["sample-rate"]), ratio=float(metrics["noise-to-signal"])))
        state = recorder.partners.setdefault(name, PartnerState(name))
        state.received(info, server_round=0, kind="preflight")
        if "item-counts" in reply.content:
            counts = reply.content["item-counts"].to_torch_state_dict()["counts"].numpy()
            if counts.shape != (item_buckets,) or not np.isfinite(counts).all():
                facts["failures"].append(f"partner '{name}': item counts of shape {counts.shape} (expected "
                                         f"({item_buckets},), finite): left out of the prior")
                continue
            total += counts
            counted += 1
            facts["partners"].append(name)
            facts["noise_std"][name] = float(metrics["noise-std"])
        if float(metrics["epsilon"]) >= 0:
            state.epsilon = state.epsilon_by_round[0] = float(metrics["epsilon"])
            state.messages.append(f"partner '{name}': pre-flight item counts: epsilon now {state.epsilon:.4f}")
    return (prior_from_counts(total) if counted else None), facts


def federated_evaluation_line(examples: dict[str, int], *, noise_multiplier: float, top_k: int) -> str:
    """The pre-flight's estimate of the noise std federated NDCG@K will carry (``examples``: declared users per
    partner; every partner answers with noise std ``noise_multiplier * sqrt(3)`` on its sums), with a warning
    when that std exceeds ``FEDERATED_STD_WARNING``."""
    stds = [noise_multiplier * l2_sensitivity(2)] * len(examples)
    std = expected_ratio_std(stds, sum(examples.values()))
    line = (f"federated evaluation: NDCG@{top_k} will carry a noise std of about {std:.4f} "
            f"({sum(examples.values())} users over {len(examples)} partner(s), noise std {stds[0]:.1f} per answer)")
    if std > FEDERATED_STD_WARNING:
        line += (f"; WARNING: figures below about {2 * std:.3f} cannot be read; the central NDCG (simulation) or "
                 "a lower evaluation-noise-multiplier (more epsilon per answer) reads them")
    return line
