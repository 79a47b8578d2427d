"""A site's DP releases grouped by kind (ledger ``model``: popularity, profile, dlrm, evaluation, ...).

Sent with every signed ledger head, shown per partner in the privacy report, and recomputed from the
site's ledger by ``fedrec audit``. Epsilon is not split by kind: composition is not additive, so the
report gives the partner's one cumulative epsilon over all kinds.
"""

from __future__ import annotations


def releases_by_kind(entries: list[dict]) -> dict[str, dict]:
    """{kind: {"releases", "steps", "mechanism", "noise_multiplier": [min, max], "sample_rate": [min, max],
    "rounds": [first, last]}} over ledger entries (oldest first); kinds in order of first release."""
    kinds: dict[str, dict] = {}
    for entry in entries:
        kind = kinds.setdefault(entry["model"], {
            "releases": 0, "steps": 0, "mechanism": entry["mechanism"],
            "noise_multiplier": [entry["noise_multiplier"]] * 2, "sample_rate": [entry["sample_rate"]] * 2,
            "rounds": [entry["round"]] * 2})
        kind["releases"] += 1
        kind["steps"] += int(entry["steps"])
        for key in ("noise_multiplier", "sample_rate", "rounds"):
            value = entry["round" if key == "rounds" else key]
            kind[key] = [min(kind[key][0], value), max(kind[key][1], value)]
    return kinds
