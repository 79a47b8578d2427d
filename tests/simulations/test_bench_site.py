"""bench_site: one deployed site's real DP round on a small synthetic partner, stage by stage, ledgered."""

import json

from recmodel.privacy.ledger import PrivacyLedger
from simulations import bench_site


def test_a_small_site_round_reports_every_stage_and_leaves_a_real_ledger(tmp_path, capsys):
    work = tmp_path / "work"
    assert bench_site.main(["--users", "400", "--items", "150", "--eval-users", "60", "--work-dir", str(work),
                            "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record == json.loads((work / "bench-site.json").read_text())[0]
    names = [s["stage"] for s in record["stages"]]
    assert names == ["load", "prior", "examples", "train profile", "train dlrm", "evaluate 60",
                     "evaluate (all users, scaled)"]
    assert all(s["seconds"] >= 0 and s["peak_mib"] > 0 for s in record["stages"])
    assert record["stages"][0]["users"] == 400 and record["stages"][0]["items"] == 150
    assert record["steps"] > 0 and 0 < record["epsilon"] <= 10.0
    (state_dir,) = work.glob("state-*")
    models = [e["model"] for e in PrivacyLedger.at_site(state_dir).entries()]
    assert models == ["popularity", "profile", "dlrm"]
    assert PrivacyLedger.at_site(state_dir).entries()[-1]["epsilon"] == record["epsilon"]


def test_a_configuration_over_the_memory_cap_is_reported_not_hung(tmp_path, capsys):
    work = tmp_path / "work"
    assert bench_site.main(["--users", "300", "--items", "100", "--memory-limit-gb", "0.2",
                            "--work-dir", str(work)]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert "error" in json.loads((work / "bench-site.json").read_text())[0]
