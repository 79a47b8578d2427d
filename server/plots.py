"""PNG plots of a run's per-round metrics."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


BASELINE_STYLES = {  # name in summary.json "baselines" -> (label, colour, line style)
    "popularity": ("popularity", "grey", "--"),
    "dp_popularity": ("DP popularity (noised counts)", "tab:olive", ":"),
    "centralised": ("centralised, no privacy (same model)", "tab:green", "-."),
    "local_only": ("each partner alone, no privacy", "tab:purple", (0, (5, 2, 1, 2))),
}


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
    if any(v is not None for v in federated):
        left.plot(rounds, federated, marker="s", markerfacecolor="none", linestyle="--", markersize=9,
                  label="federated (partners' noised answers)")  # dashed, hollow: visible where it meets central
    for name, values in baselines.items():
        if values.get(key) is not None:
            label, colour, style = BASELINE_STYLES.get(name, (name, "black", "--"))
            left.axhline(values[key], color=colour, linestyle=style, label=label)
    left.set(xlabel="round", ylabel=f"NDCG@{top_k}", title=f"NDCG@{top_k} over rounds")
    left.legend(fontsize=8)
    if eps_rows:
        right.plot([r for r, _ in eps_rows], [e for _, e in eps_rows], marker="o", color="tab:red")
    right.set(xlabel="round", ylabel="epsilon (max over partners)", title="privacy spent")
    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
    return target


def plot_epsilon_by_partner(series: dict[str, dict[str, float]], caps: dict[str, float | None], *, target: Path) -> Path:
    """Cumulative epsilon per partner over rounds, with each partner's cap dashed."""
    fig, axis = plt.subplots(figsize=(6, 4))
    for name, by_round in series.items():
        line = axis.plot([int(r) for r in by_round], list(by_round.values()), marker="o", label=name)[0]
        if caps.get(name) is not None:
            axis.axhline(caps[name], color=line.get_color(), linestyle="--", linewidth=0.8)
    axis.set(xlabel="round", ylabel="cumulative epsilon", title="privacy spent per partner (dashed: cap)")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    if series:
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
    return target
