"""bench_dp --json: one parseable object per (rows, batch) configuration, from a real (tiny) training run."""

import json

from simulations import bench_dp


def test_json_output_has_one_object_per_configuration(capsys):
    bench_dp.main(["--rows", "500", "--batch-size", "4", "--steps", "1", "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["rows"], r["batch"]) for r in records] == [(500, 4)]
    for record in records:
        assert record["device"] == "cpu"
        assert record["dp_users_per_s"] > 0 and record["non_dp_users_per_s"] > 0
        assert abs(record["dp_over_non_dp"] - record["dp_users_per_s"] / record["non_dp_users_per_s"]) < 1e-9
        assert record["dp_peak_mib"] > 0 and record["non_dp_peak_mib"] > 0
