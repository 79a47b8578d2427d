"""Segment summaries a marketer can read: what sets each segment apart, in words and in the data's units."""

from __future__ import annotations

import numpy as np
import pandas as pd


MIN_LIFT = 1.2  # a category is over-represented in a segment at 1.2x all users' share or more ...
MIN_POINTS = 0.02  # ... and 2 percentage points above it (7% against 7% is not a finding)


def summarise_segments(segments: np.ndarray, k: int, value: pd.DataFrame, shares: pd.DataFrame) -> pd.DataFrame:
    """One row per segment: size, medians of ``value`` (days, counts, spend), its most over-represented
    categories (share of the segment's events against all users') and a one-sentence ``description``.

    segments: [U] labels in 0..k-1; value: [U] rows of recmodel.customer_value; shares: [U, categories].
    """
    overall_share = shares.mean(axis=0)
    overall = value.median(numeric_only=True)
    rows = []
    for s in range(k):
        members = segments == s
        row = {"segment": s, "users": int(members.sum()), "share_of_users": float(members.mean())}
        if not members.any():
            rows.append({**row, "description": "empty segment"})
            continue
        median = value[members].median(numeric_only=True)
        row.update({f"median_{c}": float(median[c]) for c in value.columns})
        share = shares[members].mean(axis=0)
        top = over_represented(share, overall_share)
        row["top_categories"] = "; ".join(f"{c} ({share[c]:.0%} of events, all users {overall_share[c]:.0%})"
                                          for c in top)
        row["description"] = _sentence(row, top, share, overall_share, median, overall)
        rows.append(row)
    return pd.DataFrame(rows)


def over_represented(share: pd.Series, overall_share: pd.Series, limit: int = 3) -> list[str]:
    """The categories (at most ``limit``, most points above first) whose ``share`` of a group's events is at
    least ``MIN_LIFT`` x and ``MIN_POINTS`` above ``overall_share``, all users' share, and at least 5%.

    Ranked by points above, not by lift: one event in a rare category doubles a small share, and a
    customer's clear favourite should come before it."""
    lift = (share / overall_share.where(overall_share > 0)).fillna(0.0)
    return [c for c in (share - overall_share).sort_values(ascending=False, kind="stable").index
            if lift[c] >= MIN_LIFT and share[c] - overall_share[c] >= MIN_POINTS and share[c] >= 0.05][:limit]


def distinctive_categories(shares: pd.DataFrame, limit: int = 3) -> list[list[tuple[str, float, float]]]:
    """Per user (rows of ``shares`` [U, categories], from the site's own events): the categories the user's
    history over-represents against all users' by the rule and order of ``over_represented``, as (name, the
    user's share, all users' share)."""
    values = shares.to_numpy(dtype=np.float64)
    overall = values.mean(axis=0) if len(values) else np.zeros(values.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(overall > 0, values / overall, 0.0)
    standing = (lift >= MIN_LIFT) & (values - overall >= MIN_POINTS) & (values >= 0.05)
    score = np.where(standing, values - overall, -np.inf)  # most points above first, as over_represented
    order = np.argsort(-score, axis=1, kind="stable")[:, :limit]
    names = list(shares.columns)
    return [[(str(names[c]), float(values[u, c]), float(overall[c])) for c in order[u] if np.isfinite(score[u, c])]
            for u in range(len(values))]


def _sentence(row, top, share, overall_share, median, overall) -> str:
    parts = [f"{row['users']:,} users ({row['share_of_users']:.0%})"]
    if top:
        parts.append("over-represented in " + ", ".join(
            f"{c} ({share[c]:.0%} vs {overall_share[c]:.0%})" for c in top))
    else:
        parts.append(f"no category stands out (none at {MIN_LIFT:g}x all users' share and "
                     f"{MIN_POINTS:.0%} points above it)")
    parts.append(f"last active {median['days_since_last_event']:.0f} days before the latest event "
                 f"(all users {overall['days_since_last_event']:.0f})")
    parts.append(f"{median['events']:.0f} events each (all users {overall['events']:.0f})")
    if np.isfinite(median.get("spend", np.nan)):
        parts.append(f"spend {median['spend']:.2f} each (all users {overall['spend']:.2f}; medians)")
    return "; ".join(parts)
