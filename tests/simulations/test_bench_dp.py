"""bench_dp --json: one parseable object per (rows, batch) configuration, from real (tiny) training runs."""

import json

import pytest

from simulations import bench_dp


def test_json_output_has_one_object_per_configuration_with_every_path(capsys):
    bench_dp.main(["--rows", "500", "--batch-size", "4", "--steps", "1", "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["rows"], r["batch"]) for r in records] == [(500, 4)]
    for record in records:
        assert record["device"] == "cpu"
        for path in ("dp", "opacus", "fastest_sparse", "fastest_dense"):
            assert record[f"{path}_users_per_s"] > 0 and record[f"{path}_peak_mib"] > 0, path
        fastest = record[record["fastest_non_dp"].replace("-", "_") + "_users_per_s"]
        assert fastest == max(record["fastest_sparse_users_per_s"], record["fastest_dense_users_per_s"])
        assert abs(record["dp_over_fastest"] - record["dp_users_per_s"] / fastest) < 1e-9
        assert abs(record["opacus_over_fastest"] - record["opacus_users_per_s"] / fastest) < 1e-9


def test_the_table_names_the_fastest_non_private_variant(capsys):
    record = {"rows": 10, "batch": 2, "fastest_non_dp": "fastest-sparse", "dp_users_per_s": 1.0,
              "opacus_users_per_s": 0.5, "fastest_sparse_users_per_s": 2.0, "dp_over_fastest": 0.5,
              "opacus_over_fastest": 0.25, "dp_peak_mib": 3.0, "opacus_peak_mib": 4.0, "fastest_sparse_peak_mib": 2.0}
    assert "(sparse)" in bench_dp.table_row(record)


def test_a_measurement_whose_child_dies_is_named_instead_of_hanging():
    with pytest.raises(RuntimeError, match=r"'dp' measurement \(rows=50, batch=2, device=no-such-device\) exited "
                                           r"with status 1"):
        bench_dp.measure("dp", rows=50, steps=1, batch_size=2, device="no-such-device")
