"""The run's HTML report: self-contained, with the numbers of summary.json, and readable in a real browser."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from recmodel.empirical_audit.plots import plot_roc
from server.html_report import write_html_report
from server.plots import plot_epsilon_by_partner, plot_ndcg_and_epsilon

SUMMARY = {
    "run_name": "demo", "status": "succeeded", "end_reason": "all 2 planned rounds completed",
    "metrics": {"ndcg@10": 0.1198, "hr@10": 0.2309, "users": 10000, "next-category-top5": 0.676,
                "prior-top5": 0.496, "reconstruction-mse": 0.036, "mean-baseline-mse": 0.094},
    "selected": {"round": 2, "model": "selected/round-2", "by": "valid-ndcg@10 of the central evaluation",
                 "ndcg@10": 0.1198, "valid-ndcg@10": 0.1269},
    "baselines": {"popularity": {"ndcg@10": 0.0423, "hr@10": 0.0868, "users": 10000},
                  "dp_popularity": {"ndcg@10": 0.0426, "hr@10": 0.0864, "users": 10000}},
    "privacy": {"dp": True, "unit": "user", "delta": 1e-5, "accountant": "prv", "target_epsilon": 8.0,
                "epsilon": {"partner-0": 7.9952, "partner-1": 7.9951}, "max_epsilon": {"partner-0": 10.0, "partner-1": 10.0},
                "status": {"partner-0": "active", "partner-1": "active"}},
}
RELEASES = {"popularity": {"releases": 1, "steps": 1, "mechanism": "gaussian", "noise_multiplier": [2.0, 2.0],
                           "sample_rate": [1.0, 1.0], "rounds": [0, 0]},
            "dlrm": {"releases": 2, "steps": 80, "mechanism": "poisson_subsampled_gaussian",
                     "noise_multiplier": [0.8859, 0.8859], "sample_rate": [0.05, 0.05], "rounds": [1, 2]}}
PRIVACY = {"partners": {"partner-0": {"releases": RELEASES}, "partner-1": {"releases": RELEASES}}}


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "privacy").mkdir()
    rows = [{"round": r, "central": {"ndcg@10": 0.05 * r, "hr@10": 0.1 * r},
             "federated": {"ndcg@10": 0.05 * r, "ndcg@10-std": 0.0049}, "epsilon_max": 4.0 * r,
             "partners": {"partner-0": {}, "partner-1": {}}, "seconds": 12.5} for r in (1, 2)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "config.json").write_text(json.dumps({
        "mode": "simulation", "num_partners": 2, "data": {"source": "synthetic", "users": 10000, "items": 1000,
                                                           "users_per_partner": [5000, 5000]},
        "run_config": {"num-server-rounds": 2, "strategy": "fedavg", "local-epochs": 2}}))
    plot_ndcg_and_epsilon(rows, top_k=10, baselines=SUMMARY["baselines"], target=tmp_path / "ndcg_epsilon.png")
    plot_epsilon_by_partner({"partner-0": {"1": 4.0, "2": 8.0}}, {"partner-0": 10.0},
                            target=tmp_path / "privacy" / "epsilon.png")
    return tmp_path


def test_the_report_holds_the_runs_numbers_and_embeds_its_plots(run_dir):
    page = write_html_report(run_dir, SUMMARY, PRIVACY).read_text()
    assert "0.1198" in page and "0.0423" in page and "7.9952" in page  # model, popularity, epsilon
    assert "DLRM update" in page and "item counts (popularity prior)" in page  # release kinds
    assert page.count("data:image/png;base64,") == 2 and "src='http" not in page  # self-contained
    assert "Glossary" in page and "NDCG@10" in page


def test_a_canary_audit_shows_its_bounds_beside_the_ledgers_and_its_figures(run_dir):
    coins = np.arange(100) % 2 == 0
    plot_roc({"site updates": coins + np.linspace(0, 0.5, 100)}, coins, run_dir / "privacy" / "canary-roc.png")
    row = {"canaries": 100, "auc": 0.97, "one_run_epsilon": 9.1, "ledger_epsilon": 7.9952, "exceeds_ledger": True}
    (run_dir / "privacy" / "empirical-audit.json").write_text(json.dumps({
        "canaries": 100, "included": 50, "confidence": 0.95, "method": "one-run", "passed": False,
        "views": {"site updates": {"partner-0": row}}}))
    page = write_html_report(run_dir, SUMMARY, PRIVACY).read_text()
    assert "Empirical privacy audit" in page and "9.100" in page and "LEAK" in page and "FAIL" in page
    assert page.count("data:image/png;base64,") == 3  # the ROC curve beside the run's two plots


def test_the_marketing_figures_appear_per_k_for_the_model_and_the_baselines(run_dir):
    figures = {"precision@5": 0.031, "recall@5": 0.155, "map@5": 0.0712, "coverage@5": 0.62, "novelty@5": 7.31}
    summary = {**SUMMARY, "metrics": {**SUMMARY["metrics"], **figures},
               "baselines": {"popularity": {**SUMMARY["baselines"]["popularity"], "precision@5": 0.01, "coverage@5": 0.005}}}
    page = write_html_report(run_dir, summary, PRIVACY).read_text()
    assert "<table id='marketing'>" in page and "precision@5" in page and "0.0712" in page and "7.31" in page
    assert "0.0050" in page  # popularity's coverage beside the model's
    assert "id='marketing'" not in write_html_report(run_dir, SUMMARY, PRIVACY).read_text()


def test_without_dp_the_report_says_there_is_no_guarantee(run_dir):
    summary = {**SUMMARY, "privacy": {"dp": False}}
    assert "no privacy guarantee" in write_html_report(run_dir, summary, None).read_text()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None,
                                    reason="chromium is not installed (.ci/run installs it from Debian packages)")


def headless(tmp_path: Path) -> list[str]:
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
            f"--user-data-dir={tmp_path / 'chromium-profile'}"]


def rendered_dom(report: Path, tmp_path: Path) -> str:
    """The report's DOM after a headless Chromium loaded it and ran its script."""
    return subprocess.run([*headless(tmp_path), "--dump-dom", report.as_uri()], capture_output=True, text=True,
                          timeout=120).stdout


@needs_chromium
def test_a_headless_browser_shows_the_figures_and_the_tables(run_dir, tmp_path):
    report = write_html_report(run_dir, SUMMARY, PRIVACY)
    dom = rendered_dom(report, tmp_path)
    assert len(re.findall(r'data-rendered="yes"', dom)) == 2  # both PNGs decoded, with a size, in the browser
    assert re.search(r"<td>partner-0</td><td>7\.9952</td>", dom)
    assert re.search(r"<td>popularity</td><td>0\.0423</td>", dom)
    assert re.search(r"<td>strategy</td><td[^>]*>fedavg</td>", dom)  # the run's settings
    assert re.search(r"<td>2</td><td>0\.1000</td><td>0\.2000</td><td>0\.1000 ± 0\.0049</td>", dom)  # a round
    assert "Selected model: <b>round 2</b>" in dom
    assert re.search(r"<th>delta</th>.*<td>7\.9952</td><td>1e-05</td>", dom, re.S)
    shot = tmp_path / "report.png"
    subprocess.run([*headless(tmp_path), "--window-size=1200,2400", f"--screenshot={shot}", report.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000  # a page with figures, not blank
