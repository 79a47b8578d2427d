"""After federation: ask every partner still in the run to personalise locally and report the lift.

Each partner answers with noised sums (NDCG@K before and after fine-tuning,
and its user count), one ledgered DP release; the lift is computed from them.
"""

from __future__ import annotations

import math

from flwr.app import ArrayRecord, ConfigRecord, MessageType
from flwr.serverapp import Grid

from recmodel.metrics.noised_ratio import noised_difference_std, noised_ratio_std
from server.final_phase import ask_partners
from server.recorder import RoundRecorder
from server.refusals import RefusalReasons


def personalise_partners(grid: Grid, arrays: ArrayRecord, settings: ConfigRecord, *, exclude: set[int],
                         recorder: RoundRecorder, top_k: int, timeout: float = 3600,
                         refusals: RefusalReasons | None = None) -> dict:
    """Send the final global model with ``phase=personalise``; returns per-partner and pooled NDCG@K."""
    partners, failures = ask_partners(grid, arrays, settings, phase="personalise", kind="personalisation",
                                      message_type=MessageType.TRAIN, exclude=exclude, recorder=recorder,
                                      timeout=timeout, refusals=refusals)
    count = sum(p["count"] for p in partners.values())
    pooled = lambda key: sum(p[key] for p in partners.values()) / count if count >= 1 else math.nan  # noqa: E731
    result = {"partners": partners, "failures": failures, f"ndcg@{top_k}_global": pooled("ndcg-before-sum"),
              f"ndcg@{top_k}_personalised": pooled("ndcg-after-sum"),
              "note": "partner figures are Gaussian-noised sums (DP releases in each partner's ledger)"}
    result["lift"] = result[f"ndcg@{top_k}_personalised"] - result[f"ndcg@{top_k}_global"]
    stds = [p.get("noise-std", 0.0) for p in partners.values()]  # each figure with the std of its noise
    for name in (f"ndcg@{top_k}_global", f"ndcg@{top_k}_personalised"):
        result[f"{name}-std"] = noised_ratio_std(stds, count, result[name])
    result["lift-std"] = noised_difference_std(stds, count, result["lift"])
    print(f"personalisation (OverArch fine-tuned at each partner, test users of that partner, noised): NDCG@{top_k} "
          f"{result[f'ndcg@{top_k}_global']:.4f}±{result[f'ndcg@{top_k}_global-std']:.4f} global -> "
          f"{result[f'ndcg@{top_k}_personalised']:.4f}±{result[f'ndcg@{top_k}_personalised-std']:.4f} personalised "
          f"(lift {result['lift']:+.4f}±{result['lift-std']:.4f})" + (f"; failed: {failures}" if failures else ""),
          flush=True)
    return result
