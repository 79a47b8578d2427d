"""Summary statistics of an events file (``fedrec data describe``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recmodel.data.schema import load_events


def describe_events(path: str | Path, *, min_interactions: int = 3) -> dict:
    events = load_events(path)
    per_user = events.groupby("user_id").size()
    distinct_per_user = events.drop_duplicates(["user_id", "item_id"]).groupby("user_id").size()
    summary = {
        "file": str(path),
        "events": int(len(events)),
        "users": int(events["user_id"].nunique()),
        "items": int(events["item_id"].nunique()),
        "event_types": {k: int(v) for k, v in events["event"].value_counts().items()},
        "events_per_user": _quantiles(per_user),
        "users_below_min_interactions": int((distinct_per_user < min_interactions).sum()),
        "min_interactions": min_interactions,
        "time_range": [float(events["timestamp"].min()), float(events["timestamp"].max())],
        "columns": list(events.columns),
    }
    if "partner_id" in events:
        by_partner = events.groupby("partner_id").agg(users=("user_id", "nunique"), events=("user_id", "size"))
        summary["partners"] = {str(k): {"users": int(r.users), "events": int(r.events)} for k, r in by_partner.iterrows()}
    if "category" in events:
        summary["categories"] = int(events["category"].nunique())
    return summary, per_user, events


def _quantiles(series: pd.Series) -> dict:
    q = np.percentile(series.to_numpy(), [0, 25, 50, 75, 100])
    return {"min": float(q[0]), "p25": float(q[1]), "median": float(q[2]), "p75": float(q[3]), "max": float(q[4]),
            "mean": float(series.mean())}


def plot_distributions(per_user: pd.Series, events: pd.DataFrame, target: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if "partner_id" in events else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4))
    axes[0].hist(per_user.to_numpy(), bins=50, log=True)
    axes[0].set(xlabel="events per user", ylabel="users (log)", title="activity per user")
    counts = np.sort(events["item_id"].value_counts().to_numpy())[::-1]
    axes[1].loglog(np.arange(1, len(counts) + 1), counts)
    axes[1].set(xlabel="item rank", ylabel="events", title="item popularity")
    if panels == 3:
        users = events.groupby("partner_id")["user_id"].nunique()
        axes[2].bar(users.index.astype(str), users.to_numpy())
        axes[2].set(xlabel="partner", ylabel="users", title="users per partner")
        axes[2].tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
    return target
