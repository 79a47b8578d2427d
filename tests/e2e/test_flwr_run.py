"""End to end: the real ``flwr run`` (local SuperLink, Ray simulation engine), 2 partners x 2 rounds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from recmodel.privacy.ledger import entry_hash
from tests.e2e.conftest import FLWR, flwr_run
from tests.server.test_html_report import CHROMIUM, rendered_dom


TINY_RUN = "synthetic-users=160 synthetic-items=80 synthetic-categories=6 batch-size=16 item-buckets=256"


def audit(run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(FLWR.parent / "fedrec"), "audit", str(run_dir)], capture_output=True, text=True)


def test_flwr_run_two_partners_two_rounds(flwr_env, tmp_path):
    out_dir = tmp_path / "runs"
    output = flwr_run(flwr_env, tmp_path, f"num-server-rounds=2 {TINY_RUN} output-dir='{out_dir}' run-name='e2e' "
                                          "reference-baselines=true")
    run_dir = out_dir / "e2e"
    assert f"artifacts in {run_dir}" in output
    assert "round |  NDCG@10" in output
    assert "round 2: 2/2 partner(s) trained in" in output  # progress during the round
    assert len(output.splitlines()) < 45, output  # Flower's INFO chatter goes to flower.log, not the console
    assert "aggregate_train: Received 2 results and 0 failures" in (run_dir / "flower.log").read_text()
    if CHROMIUM:  # the run's own HTML report, as a browser shows it
        dom = rendered_dom(run_dir / "report.html", tmp_path)
        assert dom.count('data-rendered="yes"') == 2 and "<td>partner-0</td>" in dom and "<td>popularity</td>" in dom
        assert "<td>20+ interactions</td>" in dom
    # The run went to the SuperLink this test started on its own ports, not to one found on Flower's default port.
    assert (Path(flwr_env["FLWR_HOME"]) / "local-superlink" / "superlink.log").is_file()

    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["metrics"]) >= {"ndcg@10", "hr@10", "next-category-top5", "prior-top5", "reconstruction-mse"}
    assert set(summary["baselines"]["popularity"]) >= {"ndcg@10", "hr@10"}
    assert set(summary["baselines"]["dp_popularity"]["sites"]) == {"partner-0", "partner-1"}
    assert summary["baselines"]["centralised"]["users"] == summary["metrics"]["users"]
    assert set(summary["baselines"]["local_only"]["sites"]) == {"partner-0", "partner-1"}
    assert "centralised non-private reference" in output and "local-only reference" in output
    assert set(summary["preflight"]["noise_to_signal"]) == {"partner-0", "partner-1"}
    assert "pre-flight: partner 'partner-0'" in output and "item prior from 2 site(s)' noised item counts" in output
    assert set(summary["privacy"]["epsilon"]) == {"partner-0", "partner-1"}
    assert summary["privacy"]["delta"] == 1e-5

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rows] == [0, 1, 2]
    assert "cat@5" in output
    assert rows[1]["epsilon_max"] < rows[2]["epsilon_max"] <= 8.0
    best = max(rows, key=lambda r: (r["central"]["valid-ndcg@10"], -r["round"]))  # earliest on ties
    selected = summary["selected"]
    assert selected["round"] == best["round"] and selected["ndcg@10"] == best["central"]["ndcg@10"]
    assert sorted(p.name for p in (run_dir / "selected").iterdir()) == [f"round-{best['round']}"]
    assert f"selected model (best valid-ndcg@10): round {best['round']}" in output
    marketing = summary["marketing"]  # the served (selected) model, per activity segment, central and federated
    assert marketing["model_round"] == best["round"] == marketing["federated"]["model_round"]
    assert sum(s["users"] for s in marketing["central"]["segments"].values()) == summary["metrics"]["users"]
    assert marketing["central"]["all"]["ndcg@10"] == pytest.approx(summary["selected"]["ndcg@10"])
    assert marketing["federated"]["partners"] == ["partner-0", "partner-1"]
    assert set(marketing["federated"]["all"]) >= {"precision@5", "recall@20-std", "map@10", "novelty@5", "users"}
    assert f"marketing figures (model of round {best['round']}, 2 partner(s), noised)" in output
    model_bytes = (run_dir / "model.pt").stat().st_size
    for row in rows[1:]:  # each round sends the model to 2 partners (train, evaluate) and gets 2 updates back
        assert row["seconds"] > 0
        assert 4 * 0.9 * model_bytes < row["bytes"]["sent"] < 4 * 1.1 * model_bytes
        assert 2 * 0.9 * model_bytes < row["bytes"]["received"] < 2 * 1.1 * model_bytes
    for partner in ("partner-0", "partner-1"):
        entries = [json.loads(l) for l in (run_dir / "partners" / partner / "ledger.jsonl").read_text().splitlines()]
        assert [(e["round"], e["model"]) for e in entries] == [(0, "popularity"),
            (1, "profile"), (1, "dlrm"), (1, "evaluation"), (2, "profile"), (2, "dlrm"), (2, "evaluation"),
            (0, "evaluation")]  # the served model's marketing figures, once per run
        assert all(entry_hash(e) == e["hash"] for e in entries)
        assert all(e["signature"] for e in entries)
        assert entries[-1]["epsilon"] == pytest.approx(summary["privacy"]["epsilon"][partner])
    assert (run_dir / "model.pt").stat().st_size > 0
    assert (run_dir / "ndcg_epsilon.png").read_bytes()[:4] == b"\x89PNG"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["run_config"]["num-server-rounds"] == 2

    report = json.loads((run_dir / "privacy" / "report.json").read_text())
    assert report["finished"] and report["guarantee"]["unit"] == "user"
    assert {p["status"] for p in report["partners"].values()} == {"active"}
    assert "Not covered" in (run_dir / "privacy" / "report.md").read_text()
    assert (run_dir / "privacy" / "epsilon.png").read_bytes()[:4] == b"\x89PNG"
    for partner in report["partners"].values():  # the coordinator kept every signed head it received
        assert [(h["round"], h["kind"]) for h in partner["signed_heads"]] == [
            (0, "preflight"), (1, "train"), (1, "evaluation"), (2, "train"), (2, "evaluation"), (0, "marketing")]
        assert all({"spend", "file_signature"} <= set(h) for h in partner["signed_heads"] if h["kind"] == "train")
        assert partner["policy"]["source"].startswith("simulation")
        assert {k: r["releases"] for k, r in partner["releases"].items()} == {"popularity": 1, "profile": 2,
                                                                              "dlrm": 2, "evaluation": 3}
    assert "| partner-0 | DLRM update | 2 |" in (run_dir / "privacy" / "report.md").read_text()
    verdict = audit(run_dir)
    assert verdict.returncode == 0, verdict.stdout
    assert "overall: PASS (2/2 ledgers pass)" in verdict.stdout
    as_json = json.loads(subprocess.run([str(FLWR.parent / "fedrec"), "audit", str(run_dir), "--json"],
                                        capture_output=True, text=True).stdout)
    for ledger in as_json["ledgers"]:
        assert {k: r["count"] for k, r in ledger["releases"].items()} == {"popularity": 1, "profile": 2, "dlrm": 2,
                                                                                 "evaluation": 3}
        assert sum(r["share"] for r in ledger["releases"].values()) == pytest.approx(1.0)


def test_flwr_run_leaves_out_a_site_whose_policy_refuses_the_run_config(flwr_env, tmp_path, staged_repo):
    """partner-0's policy holds delta 1e-6; the run asks 1e-5: it refuses before training, partner-1 trains on."""
    policy = tmp_path / "sites.toml"
    policy.write_text("[default]\nmax-epsilon = 10.0\n\n[partner-0]\ndelta = 1e-6\nmax-epsilon = 10.0\n")
    out_dir = tmp_path / "runs"
    output = flwr_run(flwr_env, tmp_path, f"num-server-rounds=2 {TINY_RUN} site-policy='{policy}' "
                                          f"output-dir='{out_dir}' run-name='policy' profiles=false", staged_repo)
    assert "policy-refused: partner 'partner-0': the run config asks target-delta=1e-05" in output
    run_dir = out_dir / "policy"
    report = json.loads((run_dir / "privacy" / "report.json").read_text())
    assert report["partners"]["partner-0"]["status"] == "policy-refused"
    assert "site's privacy policy has target-delta=1e-06" in report["partners"]["partner-0"]["messages"][0]
    assert "policy-refused" in (run_dir / "privacy" / "report.md").read_text()
    assert report["partners"]["partner-1"]["rounds_trained"] == 2
    assert not (run_dir / "partners" / "partner-0" / "ledger.jsonl").exists()  # nothing released
    assert audit(run_dir).returncode == 0


def test_a_run_that_cannot_finish_within_the_caps_is_refused_before_any_training(flwr_env, tmp_path, staged_repo):
    """Both partners' caps (6.0) are below what the whole run spends (target 8): each refuses the pre-flight, says
    which target would fit, and the run ends before round 1 having trained and released nothing."""
    out_dir = tmp_path / "runs"
    output = flwr_run(flwr_env, tmp_path, f"num-server-rounds=3 max-epsilon-overrides='partner-0=6.0,partner-1=6.0' "
                                          f"{TINY_RUN} output-dir='{out_dir}' run-name='capped'", staged_repo)
    for partner in ("partner-0", "partner-1"):
        assert (f"budget-exhausted: partner '{partner}' has spent epsilon 0.0000; the whole planned run (3 rounds at "
                "target-epsilon 8) would reach") in output
    assert "a run of target-epsilon at most about 6.00 fits" in output
    assert "the run cannot start: 0 partner(s) can take part" in output
    assert "round 1: training" not in output and "Traceback" not in output
    run_dir = out_dir / "capped"
    assert not list((run_dir / "partners").glob("*/ledger.jsonl"))  # nothing was released
    assert "this run's target-epsilon" not in output


def test_flwr_run_with_central_dp_reports_a_partner_level_guarantee(flwr_env, tmp_path, staged_repo):
    out_dir = tmp_path / "runs"
    flwr_run(flwr_env, tmp_path, f"num-server-rounds=2 central-dp=true central-noise-multiplier=2.0 "
                                 f"central-clipping-norm=5.0 {TINY_RUN} output-dir='{out_dir}' run-name='central'",
             staged_repo)
    run_dir = out_dir / "central"
    central = json.loads((run_dir / "privacy" / "report.json").read_text())["central_dp"]
    assert central["releases"] == 2 and central["epsilon"] > 0
    assert json.loads((run_dir / "summary.json").read_text())["privacy"]["central_dp"]["epsilon"] == central["epsilon"]
    verdict = audit(run_dir)
    assert verdict.returncode == 0, verdict.stdout
    assert "central DP (server)" in verdict.stdout


def _write_movielens_100k_layout(folder: Path, users: int, items: int) -> int:
    """A data set in MovieLens-100K's exact file layout (synthetic content, no download)."""
    from recmodel.data.synthetic import SyntheticSpec, generate_events

    events = generate_events(SyntheticSpec(users=users, items=items, categories=6, partners=1, seed=5))
    events = events.drop_duplicates(["user_id", "item_id"])
    user = events["user_id"].str[1:].astype(int) + 1
    item = events["item_id"].str[1:].astype(int) + 1
    rating = 1 + events["event"].map({"view": 1, "click": 2, "add_to_cart": 3, "purchase": 4})
    folder.mkdir()
    lines = [f"{u}\t{i}\t{r}\t{int(t)}" for u, i, r, t in zip(user, item, rating, events["timestamp"])]
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    (folder / "u.user").write_text("".join(f"{u}|{20 + u % 40}|{'MF'[u % 2]}|writer|00000\n" for u in range(1, users + 1)))
    genre = events.drop_duplicates("item_id").set_index(item.loc[events.drop_duplicates("item_id").index])["category"]
    flags = lambda c: "|".join("1" if g == 1 + int(c[3:]) else "0" for g in range(19))  # noqa: E731
    (folder / "u.item").write_bytes("".join(f"{i}|Movie {i} (1995)|01-Jan-1995||http://x|{flags(c)}\n"
                                            for i, c in genre.items()).encode("latin-1"))
    return len(lines)


def test_flwr_run_on_an_imported_movielens_100k_layout(flwr_env, tmp_path, staged_repo):
    rows = _write_movielens_100k_layout(tmp_path / "ml-100k", users=200, items=80)
    events = tmp_path / "ml100k.parquet"
    imported = subprocess.run([str(FLWR.parent / "fedrec"), "data", "import", "movielens-100k",
                               str(tmp_path / "ml-100k"), "--out", str(events)], capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    assert f"{rows:,} events written" in imported.stdout
    out_dir = tmp_path / "runs"
    output = flwr_run(flwr_env, tmp_path, f"num-server-rounds=2 batch-size=16 item-buckets=256 dataset='{events}' "
                                          f"output-dir='{out_dir}' run-name='ml' personalise=true", staged_repo)
    assert "200 users" in output and "personalisation (OverArch fine-tuned at each partner" in output
    summary = json.loads((out_dir / "ml" / "summary.json").read_text())
    assert set(summary["privacy"]["epsilon"]) == {"site-0", "site-1"}  # no partner_id: partitioned by user
    config = json.loads((out_dir / "ml" / "config.json").read_text())
    assert config["model_spec"]["dlrm"]["num_user_attributes"] == 3  # age, gender, occupation
    personalisation = summary["personalisation"]
    assert set(personalisation["partners"]) == {"site-0", "site-1"} and "lift" in personalisation
    for site in ("site-0", "site-1"):
        state = out_dir / "ml" / "partners" / site
        models = [json.loads(line)["model"] for line in (state / "ledger.jsonl").read_text().splitlines()]
        assert models == ["popularity", "profile", "dlrm", "evaluation", "profile", "dlrm", "evaluation",
                          "dlrm-personalised", "evaluation", "evaluation"]  # the lift, then the marketing figures
        assert (state / "personalised" / "model.pt").exists()  # stays at the site
        assert json.loads((state / "ledger.jsonl").read_text().splitlines()[-1])["epsilon"] <= 8.0
    assert audit(out_dir / "ml").returncode == 0
