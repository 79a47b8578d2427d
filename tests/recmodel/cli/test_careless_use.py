"""Careless or hostile use of every writing command: exit 2, one line, every file byte-identical afterwards."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

FEDREC = str(Path(sys.executable).parent / "fedrec")


def _tree(folder: Path) -> dict[str, str]:
    """Checksums of every file under ``folder`` (directories by their presence)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("careless")
    made = subprocess.run([FEDREC, "data", "synth", "--users", "60", "--items", "20", "--out", "events.parquet"],
                          cwd=folder, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    import pandas as pd

    pd.read_parquet(folder / "events.parquet").to_csv(folder / "events.csv", index=False)
    (folder / "empty.csv").write_bytes(b"")
    (folder / "binary.csv").write_bytes(bytes(range(255, -1, -1)) * 4)
    (folder / "zero.parquet").write_bytes(b"")
    (folder / "a-file").write_text("not a directory\n")
    (folder / "existing.parquet").write_bytes(b"keep me")
    (folder / "parts").mkdir()
    (folder / "parts" / "notes.txt").write_text("unrelated\n")
    return folder


GENERIC = ["--user", "user_id", "--item", "item_id", "--timestamp", "timestamp"]
CASES = {
    "partition into an existing directory": (["data", "partition", "events.csv", "--partners", "2", "--out", "parts"],
                                             "already exists; pass --force"),
    "partition into the directory holding the input": (["data", "partition", "events.csv", "--partners", "2",
                                                        "--out", "."], "contains the input"),
    "partition onto the input": (["data", "partition", "events.csv", "--partners", "2", "--out", "events.csv"],
                                 "is the input"),
    "import onto an existing file": (["data", "import", "csv", "events.csv", "--out", "existing.parquet", *GENERIC],
                                     "already exists; pass --force"),
    "import onto the input": (["data", "import", "parquet", "events.parquet", "--out", "events.parquet", *GENERIC],
                              "is the input"),
    "import to a .csv name": (["data", "import", "csv", "events.csv", "--out", "x.csv", *GENERIC],
                              "writes .parquet files"),
    "synth to a .csv name": (["data", "synth", "--out", "x.csv"], "writes .parquet files"),
    "output under a file": (["data", "import", "csv", "events.csv", "--out", "a-file/x.parquet", *GENERIC],
                            "is a file, not a directory"),
    "empty csv": (["data", "import", "csv", "empty.csv", "--out", "o.parquet", *GENERIC], "empty file"),
    "binary csv": (["data", "import", "csv", "binary.csv", "--out", "o.parquet", *GENERIC], "not valid utf-8"),
    "zero-byte parquet": (["data", "import", "parquet", "zero.parquet", "--out", "o.parquet", *GENERIC],
                          "not a readable Parquet file"),
    "describe an empty csv": (["data", "describe", "empty.csv"], "cannot read events file"),
    "missing source file": (["data", "import", "csv", "nothere.csv", "--out", "o.parquet", *GENERIC],
                            "nothere.csv: file not found"),
    "missing MovieLens directory": (["data", "import", "movielens-100k", "ml-nothere", "--out", "o.parquet"],
                                    "ml-nothere: directory not found"),
    "chunk rows 0": (["data", "import", "csv", "events.csv", "--out", "o.parquet", "--chunk-rows", "0", *GENERIC],
                     "--chunk-rows: expected an integer >= 1, got 0"),
    "zero partners": (["data", "partition", "events.csv", "--partners", "0", "--out", "p0"],
                      "--partners: expected an integer >= 1, got 0"),
    "zero users": (["data", "synth", "--users", "0", "--out", "s.parquet"], "--users: expected an integer >= 1"),
    "a file as the run dir": (["recommend", "--run", "a-file", "--data", "events.csv", "--out", "r.csv"],
                              "a-file: not a model; give a run directory"),
    "no model in the run dir": (["recommend", "--run", "parts", "--data", "events.csv", "--out", "r.csv"],
                                "model.pt: missing"),
    "a GPU that is not there": (["recommend", "--run", "parts", "--data", "events.csv", "--out", "r.csv",
                                 "--device", "cuda"], "device = 'cuda', but torch sees no CUDA GPU"),
    "a run dir that does not exist": (["recommend", "--run", "runs/a/selected-round-2", "--data", "events.csv",
                                       "--out", "r.csv"], "selected-round-2: no such run directory or model file"),
    "recommend onto the events": (["recommend", "--run", ".", "--data", "events.csv", "--out", "events.csv"],
                                  "lies inside the input"),
    "zero segments": (["profile", "--run", ".", "--data", "events.csv", "--out", "p.parquet", "--segments", "0"],
                      "--segments: expected an integer >= 1, got 0"),
    "negative segments": (["profile", "--run", ".", "--data", "events.csv", "--out", "p.parquet", "--segments",
                           "-1"], "--segments: expected an integer >= 1, got -1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_careless_use_exits_2_with_one_line_and_touches_nothing(workspace, case):
    arguments, message = CASES[case]
    if case == "a GPU that is not there" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    before = _tree(workspace)
    result = subprocess.run([FEDREC, *arguments], cwd=workspace, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert message in last or "error: argument" in last  # argparse prints usage, then its one error line
    assert _tree(workspace) == before


def test_force_replaces_an_existing_partition_only_once_the_new_one_is_complete(workspace, tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "events.csv").write_bytes((workspace / "events.csv").read_bytes())
    first = subprocess.run([FEDREC, "data", "partition", "events.csv", "--partners", "2", "--out", "parts"],
                           cwd=folder, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([FEDREC, "data", "partition", "events.csv", "--partners", "3", "--out", "parts",
                            "--force"], cwd=folder, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (folder / "parts").iterdir()) == [
        "partitions.json", "partner-0.parquet", "partner-1.parquet", "partner-2.parquet"]
    assert sorted(p.name for p in folder.iterdir()) == ["events.csv", "parts"]  # no leftovers
