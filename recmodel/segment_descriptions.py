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
        lift = (share / overall_share.where(overall_share > 0)).fillna(0.0)
        top = [c for c in lift.sort_values(ascending=False).index
               if lift[c] >= MIN_LIFT and share[c] - overall_share[c] >= MIN_POINTS and share[c] >= 0.05][:3]
        row["top_categories"] = "; ".join(f"{c} ({share[c]:.0%} of events, all users {overall_share[c]:.0%})"
                                          for c in top)
        row["description"] = _sentence(row, top, share, overall_share, median, overall)
        rows.append(row)
    return pd.DataFrame(rows)


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
