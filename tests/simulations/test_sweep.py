"""Experiment sweeps: real fedrec runs into a resumable CSV, a plot, and the README table."""

from pathlib import Path

import pandas as pd

from simulations import results_table
from simulations.experiment_cli import plot_sweep
from simulations.frontier import points as frontier_points
from simulations.sweep import Point, run_config_text, run_sweep
from simulations.local_superlink import processes_started_with

TINY = {"synthetic-users": 160, "synthetic-items": 80, "synthetic-categories": 6, "batch-size": 16,
        "item-buckets": 256, "num-server-rounds": 1, "profiles": False}


def test_run_config_text_quotes_strings_and_lowers_booleans():
    assert run_config_text({"dp": False, "strategy": "fedprox", "target-epsilon": 0.5}) == \
        "dp=false strategy='fedprox' target-epsilon=0.5"


def test_the_frontier_covers_epsilon_half_to_sixteen_and_no_dp():
    names = [p.name for p in frontier_points(5)]
    assert names == ["eps-0.5", "eps-1", "eps-2", "eps-4", "eps-8", "eps-16", "no-dp"]
    assert all(p.partners == 5 for p in frontier_points(5))


def test_a_sweep_runs_real_simulations_and_resumes_without_rerunning(tmp_path, monkeypatch, capsys):
    csv = tmp_path / "results" / "demo.csv"
    points = [Point("eps-4", {"target-epsilon": 4.0}, 2, {"epsilon_target": 4.0})]
    monkeypatch.chdir(tmp_path)  # a relative work dir, as the experiment commands' default ./sweeps
    table = run_sweep(points, csv, base=TINY, work_dir=Path("work"))
    row = table.iloc[0]
    assert row["status"] == "succeeded" and 0 < row["ndcg@10"] <= 1 and row["epsilon_max"] <= 4.0 + 1e-6
    assert row["popularity_ndcg@10"] > 0 and row["command"].startswith("fedrec run . --run-config")
    assert pd.read_csv(csv)["name"].tolist() == ["eps-4"]
    assert not processes_started_with((tmp_path / "work" / "flwr-home").resolve())  # its SuperLink is stopped
    capsys.readouterr()
    run_sweep(points, csv, base=TINY, work_dir=Path("work"))  # the row is done: nothing runs again
    assert "done in an earlier run of the sweep" in capsys.readouterr().out

    plot_sweep(pd.read_csv(csv), x="epsilon_target", xlabel="epsilon", title="demo", target=tmp_path / "demo.png",
               log_x=True)
    assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setattr(results_table, "RESULTS", csv.parent)
    assert "| [demo](simulations/results/demo.png) | eps-4 | succeeded |" in results_table.table()
