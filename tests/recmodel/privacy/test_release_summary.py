"""Releases grouped by kind: counts, steps, and the ranges of noise and sampling per kind."""

from recmodel.privacy.release_summary import releases_by_kind


def entry(model, round_, sigma, rate, steps, mechanism="poisson_subsampled_gaussian"):
    return {"model": model, "round": round_, "noise_multiplier": sigma, "sample_rate": rate, "steps": steps,
            "mechanism": mechanism}


def test_kinds_in_order_of_first_release_with_totals_and_ranges():
    entries = [entry("popularity", 0, 2.0, 1.0, 1, "gaussian"), entry("dlrm", 1, 0.9, 0.05, 40),
               entry("evaluation", 1, 5.0, 1.0, 1, "gaussian"), entry("dlrm", 2, 1.1, 0.04, 50)]
    kinds = releases_by_kind(entries)
    assert list(kinds) == ["popularity", "dlrm", "evaluation"]
    assert kinds["dlrm"] == {"releases": 2, "steps": 90, "mechanism": "poisson_subsampled_gaussian",
                             "noise_multiplier": [0.9, 1.1], "sample_rate": [0.04, 0.05], "rounds": [1, 2]}
    assert kinds["popularity"]["mechanism"] == "gaussian" and releases_by_kind([]) == {}
