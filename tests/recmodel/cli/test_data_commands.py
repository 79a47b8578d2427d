"""The installed ``fedrec data`` commands, run as a user would."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

FEDREC = str(Path(sys.executable).parent / "fedrec")


def fedrec(*args, cwd):
    return subprocess.run([FEDREC, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_synth_describe_partition(tmp_path):
    assert fedrec("data", "synth", "--users", 300, "--items", 60, "--partners", 3, "--out", "s.parquet", cwd=tmp_path).returncode == 0
    described = fedrec("data", "describe", "s.parquet", "--plot", "d.png", "--json", cwd=tmp_path)
    summary = json.loads(described.stdout)
    assert summary["users"] == 300 and set(summary["partners"]) == {"partner-0", "partner-1", "partner-2"}
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    split = fedrec("data", "partition", "s.parquet", "--by", "user", "--partners", 2, "--out", "parts", cwd=tmp_path)
    assert split.returncode == 0, split.stderr
    parts = [pd.read_parquet(tmp_path / "parts" / f"partner-{k}.parquet") for k in range(2)]
    assert not set(parts[0]["user_id"]) & set(parts[1]["user_id"])
    assert sum(map(len, parts)) == summary["events"]


def test_import_bad_file_exits_2_with_one_line_and_no_output(tmp_path):
    (tmp_path / "UserBehavior.csv").write_text("1,2,3,pv,1511544070\n1,2,3,pv,oops\n")
    result = fedrec("data", "import", "taobao", "UserBehavior.csv", "--out", "e.parquet", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == ("fedrec: error: UserBehavior.csv: line 2: unparsable timestamp in column "
                                     "'timestamp': 'oops' (use --skip-bad-rows to drop such rows)")
    assert "Traceback" not in result.stderr and not (tmp_path / "e.parquet").exists()
    skipped = fedrec("data", "import", "taobao", "UserBehavior.csv", "--out", "e.parquet", "--skip-bad-rows", cwd=tmp_path)
    assert skipped.returncode == 0 and "1 rows skipped: unparsable timestamp" in skipped.stdout


def test_generic_csv_import_with_mapping(tmp_path):
    (tmp_path / "log.csv").write_text("cust,sku,ts,store\nc1,s1,1700000000,north\nc2,s1,1700000100,south\n")
    result = fedrec("data", "import", "csv", "log.csv", "--out", "e.parquet", "--user", "cust", "--item", "sku",
                    "--timestamp", "ts", "--partner", "store", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(pd.read_parquet(tmp_path / "e.parquet")["partner_id"]) == ["north", "south"]


def test_partition_by_partner_needs_no_count(tmp_path):
    assert fedrec("data", "synth", "--users", 90, "--items", 30, "--partners", 3, "--out", "s.parquet",
                  cwd=tmp_path).returncode == 0
    split = fedrec("data", "partition", "s.parquet", "--by", "partner", "--out", "parts", cwd=tmp_path)
    assert split.returncode == 0, split.stderr
    assert sorted(p.name for p in (tmp_path / "parts").glob("*.parquet")) == [
        "partner-0.parquet", "partner-1.parquet", "partner-2.parquet"]
    missing = fedrec("data", "partition", "s.parquet", "--by", "user", "--out", "other", cwd=tmp_path)
    assert missing.returncode == 2 and "--partners is required with --by user" in missing.stderr
