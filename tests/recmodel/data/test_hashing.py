import subprocess
import sys

import numpy as np

from recmodel.data.hashing import hash_to_buckets


def test_rows_are_in_range_and_never_padding():
    rows = hash_to_buckets(np.arange(10_000), 64)
    assert rows.min() >= 1 and rows.max() <= 63


def test_hash_is_stable_across_processes():
    code = "from recmodel.data.hashing import hash_to_buckets; print(list(hash_to_buckets(['a','b',3], 1000)))"
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(outputs) == 1
    assert outputs.pop().strip() == str(list(hash_to_buckets(["a", "b", 3], 1000)))
