"""PNG figures of the canary audit: the membership test's ROC curve and the in / out score histograms per view."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from recmodel.atomic_write import write_atomically  # noqa: E402
from recmodel.empirical_audit.lower_bounds import roc_auc, roc_curve  # noqa: E402


def plot_roc(scores: dict[str, np.ndarray], included: np.ndarray, target: Path) -> Path:
    """One ROC curve per view (log-scaled false-positive axis: the low-FPR corner is where epsilon shows)."""
    figure, axis = plt.subplots(figsize=(5.5, 5))
    for view, values in scores.items():
        fpr, tpr = roc_curve(values, included)
        axis.plot(np.maximum(fpr, 1e-3), tpr, label=f"{view} (AUC {roc_auc(values, included):.3f})")
    chance = np.logspace(-3, 0, 100)
    axis.plot(chance, chance, color="grey", linestyle=":", label="chance")
    axis.set_xscale("log")
    axis.set_xlim(1e-3, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("false-positive rate (excluded canaries guessed in)")
    axis.set_ylabel("true-positive rate (included canaries guessed in)")
    axis.set_title("Canary membership test")
    axis.legend(loc="lower right", fontsize=8)
    return _save(figure, target)


def plot_score_histograms(scores: dict[str, np.ndarray], included: np.ndarray, target: Path) -> Path:
    """Per view, the scores of included and excluded canaries (the gap between them is the leak)."""
    figure, axes = plt.subplots(1, len(scores), figsize=(5 * len(scores), 4), squeeze=False)
    for axis, (view, values) in zip(axes[0], scores.items()):
        bins = np.histogram_bin_edges(values, bins=40)
        axis.hist(values[~included], bins=bins, alpha=0.6, label="excluded (out)", color="tab:blue")
        axis.hist(values[included], bins=bins, alpha=0.6, label="included (in)", color="tab:red")
        axis.set_title(view)
        axis.set_xlabel("membership score (higher: more likely included)")
        axis.set_ylabel("canaries")
        axis.legend(fontsize=8)
    return _save(figure, target)


def _save(figure, target: Path) -> Path:
    figure.tight_layout()
    write_atomically(target, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    plt.close(figure)
    return target
