"""PNG plots of a run's per-round metrics."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from recmodel.metrics.noised_ratio import unreadable  # noqa: E402


BASELINE_STYLES = {  # name in summary.json "baselines" -> (label, colour, line style)
    "popularity": ("popularity", "grey", "--"),
    "dp_popularity": ("DP popularity (noised counts)", "tab:olive", ":"),
    "centralised": ("centralised, no privacy (same model)", "tab:green", "-."),
    "local_only": ("each partner alone, no privacy", "tab:purple", (0, (5, 2, 1, 2))),
}


PARTNER_MARKERS = ("o", "s", "^", "D", "v", "P")
PARTNER_LINES = ("-", "--", ":", "-.")


def plot_ndcg_and_epsilon(rows: list[dict], *, top_k: int, baselines: dict[str, dict], target: Path) -> Path:
    """NDCG@K (central, federated) and max epsilon over partners, per round; each baseline's NDCG@K as a
    horizontal line (``baselines``: summary.json's, name -> {"ndcg@K": ...})."""
    key = f"ndcg@{top_k}"
    rounds = [r["round"] for r in rows]
    central = [(r["central"] or {}).get(key) for r in rows]
    federated = [(r["federated"] or {}).get(key) for r in rows]
    eps_rows = [(r["round"], r["epsilon_max"]) for r in rows if r.get("epsilon_max") is not None]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    if any(v is not None for v in central):
        left.plot(rounds, central, marker="o", label="central (all partners' test users)")
    band = noise_band(rows, key)
    stds = [(r["federated"] or {}).get(f"{key}-std") for r in rows]
    readable = [None if v is None or (std is not None and unreadable(v, std)) else v for v, std in zip(federated, stds)]
    if any(v is not None for v in federated):
        shown = [math.nan if v is None else v for v in readable]
        line = left.plot(rounds, shown, marker="s", markerfacecolor="none", linestyle="--", markersize=9,
                         label="federated (partners' noised answers)")[0]  # dashed, hollow: visible over central
        if band is not None:  # the noise std of each answer, as a band around it; a point the noise drowns is
            left.fill_between(rounds, band[0], band[1], color=line.get_color(), alpha=0.15,  # shown as band only
                              label="federated ± noise std (a point within two stds of zero is left out)")
    for name, values in baselines.items():
        if values.get(key) is not None:
            label, colour, style = BASELINE_STYLES.get(name, (name, "black", "--"))
            left.axhline(values[key], color=colour, linestyle=style, label=label)
    left.set(xlabel="round", ylabel=f"NDCG@{top_k}", title=f"NDCG@{top_k} over rounds")
    figures = [v for v in central + readable if v is not None] + [
        b[key] for b in baselines.values() if b.get(key) is not None]
    left.set_ylim(0, 1.5 * max(figures) if figures else None)  # the noise band may run off the top
    left.legend(fontsize=8)
    if eps_rows:
        right.plot([r for r, _ in eps_rows], [e for _, e in eps_rows], marker="o", color="tab:red")
    right.set(xlabel="round", ylabel="epsilon (max over partners)", title="privacy spent")
    right.set_ylim(bottom=0)
    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
    return target


def noise_band(rows: list[dict], key: str) -> tuple[list[float], list[float]] | None:
    """(lower, upper) = federated value -/+ its noise std per row, clipped to [0, 1] (nan where a row has no
    federated figure); None when no row carries a std."""
    lower, upper = [], []
    for row in rows:
        federated = row["federated"] or {}
        value, std = federated.get(key), federated.get(f"{key}-std")
        if value is None or std is None or math.isnan(std):
            lower.append(math.nan), upper.append(math.nan)
        else:
            lower.append(max(0.0, value - std)), upper.append(min(1.0, value + std))
    return (lower, upper) if any(not math.isnan(v) for v in upper) else None


def plot_epsilon_by_partner(series: dict[str, dict[str, float]], caps: dict[str, float | None], *, target: Path) -> Path:
    """Cumulative epsilon per partner over rounds, with each partner's cap dashed."""
    fig, axis = plt.subplots(figsize=(6, 4))
    for number, (name, by_round) in enumerate(series.items()):
        # a marker, size and line style per partner, so that partners with equal spend stay distinguishable
        line = axis.plot([int(r) for r in by_round], list(by_round.values()), label=name,
                         marker=PARTNER_MARKERS[number % len(PARTNER_MARKERS)], markersize=10 - 2 * (number % 4),
                         markerfacecolor="none", linestyle=PARTNER_LINES[number % len(PARTNER_LINES)])[0]
        if caps.get(name) is not None:
            axis.axhline(caps[name], color=line.get_color(), linestyle="--", linewidth=0.8)
    axis.set(xlabel="round (0: before training)", ylabel="cumulative epsilon",
             title="privacy spent per partner (dashed: cap)")
    axis.set_xlim(left=-0.2)
    axis.set_ylim(bottom=0)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    if series:
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
    return target
