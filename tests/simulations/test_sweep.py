"""Experiment sweeps: run-config text, the frontier's points, the plot and the docs' results table from a CSV.

A real sweep (fedrec runs, resume) is tested end to end in tests/e2e/test_isolation.py.
"""

import math
from pathlib import Path

import pytest

import pandas as pd

from simulations import results_table
from simulations.experiment_cli import plot_sweep
from simulations.frontier import gaussian_epsilon, points as frontier_points
from simulations.sweep import run_config_text, set_aside_earlier_attempt


def test_run_config_text_quotes_strings_and_lowers_booleans():
    assert run_config_text({"dp": False, "strategy": "fedprox", "target-epsilon": 0.5}) == \
        "dp=false strategy='fedprox' target-epsilon=0.5"


def test_the_frontier_covers_epsilon_half_to_sixteen_and_no_dp_with_half_for_the_prior():
    points = frontier_points(5)
    assert [p.name for p in points] == ["eps-0.5", "eps-1", "eps-2", "eps-4", "eps-8", "eps-16", "no-dp"]
    for point in points[:-1]:  # the prior's one Gaussian release costs at most half the target, within 0.1%
        prior = gaussian_epsilon(point.run_config["popularity-noise-multiplier"])
        assert 0.498 * point.labels["epsilon_target"] <= prior <= 0.5 * point.labels["epsilon_target"]
    assert points[-1].run_config == {"dp": False}


def test_plot_and_readme_table_from_a_sweep_csv(tmp_path, monkeypatch):
    rows = [{"name": "eps-4", "epsilon_target": 4.0, "status": "succeeded", "ndcg@10": 0.0138,
             "selected_ndcg@10": 0.0211, "selected_round": 0, "popularity_ndcg@10": 0.0193, "dp_popularity_ndcg@10": 0.0211, "epsilon_max": 3.996, "seconds": 211.0,
             "command": "fedrec run . --run-config \"target-epsilon=4.0\""},
            {"name": "no-dp", "epsilon_target": math.inf, "status": "succeeded", "ndcg@10": 0.0243,
             "selected_ndcg@10": 0.0301, "selected_round": 4, "popularity_ndcg@10": 0.0193, "dp_popularity_ndcg@10": 0.0244, "epsilon_max": None, "seconds": 114.0,
             "command": "fedrec run . --run-config \"dp=false\""}]
    (tmp_path / "demo.csv").write_text(pd.DataFrame(rows).to_csv(index=False))
    table = pd.read_csv(tmp_path / "demo.csv")
    plot_sweep(table, x="epsilon_target", xlabel="epsilon", title="demo", target=tmp_path / "demo.png", log_x=True)
    assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setattr(results_table, "RESULTS", tmp_path)
    text = results_table.table()
    assert "| [demo](results/demo.png) | eps-4 | succeeded | 0.0138 | 0.0211 (0) | 0.0193 | 0.0211 | 3.996 | 211 |" in text
    assert "| no-dp | succeeded | 0.0243 | 0.0301 (4) | 0.0193 | 0.0244 | - | 114 |" in text


def test_a_rerun_point_sets_the_earlier_attempts_run_directory_aside(tmp_path):
    run_dir = tmp_path / "runs" / "fedadam"
    assert set_aside_earlier_attempt(run_dir) is None  # nothing to keep
    for attempt in (1, 2):
        run_dir.mkdir(parents=True)
        (run_dir / "summary.json").write_text(f'{{"status": "failed", "attempt": {attempt}}}')
        assert set_aside_earlier_attempt(run_dir) == tmp_path / "runs" / f"fedadam.attempt-{attempt}"
        assert not run_dir.exists()  # the rerun writes it afresh: its summary, not a stale one, is read back
    assert '"attempt": 1' in (tmp_path / "runs" / "fedadam.attempt-1" / "summary.json").read_text()
    assert '"attempt": 2' in (tmp_path / "runs" / "fedadam.attempt-2" / "summary.json").read_text()


def test_sweep_arguments_are_checked_before_any_run(tmp_path):
    from simulations.experiment_cli import checked, parser

    with pytest.raises(SystemExit):
        parser("demo").parse_args(["--partners", "0"])
    with pytest.raises(SystemExit, match="no such events file"):
        checked(parser("demo").parse_args(["--dataset", str(tmp_path / "missing.parquet")]))
    inside = Path(__file__).resolve().parents[2] / "simulations" / "sweeps"
    with pytest.raises(SystemExit, match="inside the package"):
        checked(parser("demo").parse_args(["--work-dir", str(inside)]))
    assert checked(parser("demo").parse_args(["--work-dir", str(tmp_path)])).work_dir == tmp_path
