"""`fedrec run` names a mistyped run-config key, or a flag it does not have, before Flower starts."""

import subprocess
import sys
from pathlib import Path

import pytest

from recmodel.cli.run_config_keys import app_config_keys, check_run_config, override_keys
from recmodel.config import ConfigError

ROOT = Path(__file__).resolve().parents[3]
FEDREC = str(Path(sys.executable).parent / "fedrec")


def test_a_mistyped_key_is_one_line_naming_it_and_the_closest_key_exit_2_before_flower():
    done = subprocess.run([FEDREC, "run", ".", "--run-config", "num-rounds=2"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""  # flwr never ran: it prints the run's banner on stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'num-rounds'" in lines[0] and "did you mean 'num-server-rounds'" in lines[0]


def test_a_flag_fedrec_run_does_not_have_gets_a_hint():
    done = subprocess.run([FEDREC, "run", ".", "--rounds", "3"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == 'fedrec: error: fedrec run has no --rounds; use --run-config "num-server-rounds=N"'


def test_override_keys_read_quoted_values_and_toml_files(tmp_path):
    assert override_keys("dataset='a b.parquet' dp=false run-name=\"x=y\"") == ["dataset", "dp", "run-name"]
    toml = tmp_path / "overrides.toml"
    toml.write_text("num-server-rounds = 2\ntarget-epsilon = 4.0\n")
    assert override_keys(str(toml)) == ["num-server-rounds", "target-epsilon"]


def test_every_key_of_the_app_passes_and_an_unknown_one_fails():
    keys = app_config_keys(ROOT)
    assert "num-server-rounds" in keys and "target-epsilon" in keys
    check_run_config(" ".join(f"{key}=1" for key in keys), ROOT)
    with pytest.raises(ConfigError, match="unknown key 'target-epsilom'; did you mean 'target-epsilon'"):
        check_run_config("target-epsilom=3.0", ROOT)
