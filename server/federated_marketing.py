"""After the rounds: the served model's marketing figures per activity segment, from the partners' noised sums.

Every partner still in the run gets the model (the selected round's in simulation, else the last) with
``phase=marketing`` and answers with one DP release (``recmodel.private_marketing``): per activity segment the
noised sums of recall@K, MAP@K and scaled novelty@K and a noised user count. The coordinator adds them over
partners and divides (post-processing). Partners' figures are never reported one by one.
"""

from __future__ import annotations

import math

from flwr.app import ArrayRecord, ConfigRecord, MessageType
from flwr.serverapp import Grid

from recmodel.metrics.activity_segments import SEGMENT_NAMES
from recmodel.metrics.marketing import PER_USER_FIGURES
from recmodel.metrics.noised_ratio import noised_ratio_std, unreadable
from recmodel.private_marketing import MARKETING_PHASE, NOVELTY_CAP_BITS
from server.final_phase import ask_partners
from server.recorder import RoundRecorder
from server.refusals import RefusalReasons


def federated_marketing(grid: Grid, arrays: ArrayRecord, settings: ConfigRecord, *, model_round: int, ks,
                        exclude: set[int], recorder: RoundRecorder, timeout: float,
                        refusals: RefusalReasons | None = None) -> dict:
    """summary.json's ``marketing.federated``: {"model_round", "partners", "failures", "segments": {name:
    figures}, "all": figures}; figures are precision/recall/MAP/novelty@K, "users" (the noised count) and, per
    figure, its noise std ("recall@10-std"), known from the mechanism."""
    partners, failures = ask_partners(grid, arrays, settings, phase=MARKETING_PHASE, kind="marketing",
                                      message_type=MessageType.EVALUATE, exclude=exclude, recorder=recorder,
                                      timeout=timeout, refusals=refusals)
    stds = [p.get("noise-std", 0.0) for p in partners.values()]
    names = [f"{figure}@{k}" for k in ks for figure in PER_USER_FIGURES]
    keys = [f"{name}-sum" for name in names] + ["count"]
    summed = [{key: sum(p.get(f"segment-{index}:{key}", 0.0) for p in partners.values()) for key in keys}
              for index in range(len(SEGMENT_NAMES))]  # per segment, over partners
    segments = {segment: _figures({name: part[f"{name}-sum"] for name in names}, part["count"], ks, stds)
                for segment, part in zip(SEGMENT_NAMES, summed)}
    total = {name: sum(part[f"{name}-sum"] for part in summed) for name in names}
    count = sum(part["count"] for part in summed)
    result = {"model_round": model_round, "partners": sorted(partners), "failures": failures,
              "all": _figures(total, count, ks, stds * len(SEGMENT_NAMES)), "segments": segments,
              "note": "Gaussian-noised sums per partner and activity segment (one DP release in each partner's "
                      "ledger); novelty in bits against each partner's own popularity"}
    k, figures = max(ks), result["all"]
    quality = ", ".join(f"{name} {figures[name]:.4f}±{figures[f'{name}-std']:.4f}"
                        + (" (unreadable: within 2 std of 0)" if unreadable(figures[name], figures[f"{name}-std"])
                           else "") for name in (f"recall@{k}", f"map@{k}"))
    print(f"marketing figures (model of round {model_round}, {len(partners)} partner(s)" +
          (", noised" if any(stds) else "") + f"): {quality}; by activity segment in summary.json"
          + (f"; failed: {failures}" if failures else ""), flush=True)
    return result


def _figures(sums: dict[str, float], count: float, ks, stds: list[float]) -> dict:
    """Each figure (novelty back in bits), its noise std, precision@K = recall@K / K, and the noised user count."""
    figures = {}
    for name, value in sums.items():
        ratio = value / count if count >= 1 else math.nan  # in [0, 1], as released
        scale = NOVELTY_CAP_BITS if name.startswith("novelty@") else 1.0
        figures[name], figures[f"{name}-std"] = scale * ratio, scale * noised_ratio_std(stds, count, ratio)
    for k in ks:
        figures[f"precision@{k}"], figures[f"precision@{k}-std"] = (figures[f"recall@{k}"] / k,
                                                                    figures[f"recall@{k}-std"] / k)
    figures["users"] = count
    return figures
