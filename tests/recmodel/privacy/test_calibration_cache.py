"""Calibrations remembered across processes (``recmodel.privacy.calibration_cache``): used only once verified."""

from __future__ import annotations

import json

import pytest

from recmodel.privacy import accounting, calibration_cache
from recmodel.privacy.accounting import CALIBRATION_TOLERANCE, calibrate_noise_multiplier, epsilon_of

PLAN = dict(target_epsilon=4.0, delta=1e-5, sample_rate=0.05, steps=200, accountant="rdp")


@pytest.fixture
def cache_file(tmp_path, monkeypatch):
    """An empty cache of its own, and no answer remembered in this process."""
    path = tmp_path / "cache" / "calibrations.json"
    monkeypatch.setenv(calibration_cache.ENV_VAR, str(path))
    accounting._calibrated.cache_clear()
    yield path
    accounting._calibrated.cache_clear()


def _spent(noise_multiplier: float) -> float:
    return epsilon_of([(noise_multiplier, PLAN["sample_rate"], PLAN["steps"])], delta=PLAN["delta"],
                      accountant=PLAN["accountant"])


def _no_search(*args, **kwargs):
    raise AssertionError("the calibration searched although a verified answer was remembered")


def test_a_calibration_is_remembered_and_a_new_process_uses_it_without_searching(cache_file, monkeypatch):
    first = calibrate_noise_multiplier(**PLAN)
    assert list(json.loads(cache_file.read_text()).values()) == [first]
    accounting._calibrated.cache_clear()  # as in a new process
    monkeypatch.setattr(accounting, "_search", _no_search)
    assert calibrate_noise_multiplier(**PLAN) == first


@pytest.mark.parametrize("stored", [0.5, 100.0, -1.0, "1.2", None])
def test_an_edited_answer_is_not_trusted(cache_file, stored):
    """Too little noise (overspends), too much (needlessly noisy), or not a number: searched afresh and
    replaced; the answer spends the target to within the tolerance, as always."""
    fresh = calibrate_noise_multiplier(**PLAN)
    key = next(iter(json.loads(cache_file.read_text())))
    cache_file.write_text(json.dumps({key: stored}))
    accounting._calibrated.cache_clear()
    assert calibrate_noise_multiplier(**PLAN) == fresh
    assert PLAN["target_epsilon"] - CALIBRATION_TOLERANCE <= _spent(fresh) <= PLAN["target_epsilon"]
    assert json.loads(cache_file.read_text()) == {key: fresh}


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]"])
def test_a_garbled_cache_file_is_a_miss_and_is_rewritten(cache_file, content):
    cache_file.parent.mkdir(parents=True)
    cache_file.write_text(content)
    answer = calibrate_noise_multiplier(**PLAN)
    assert list(json.loads(cache_file.read_text()).values()) == [answer]


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(calibration_cache.ENV_VAR, str(blocker / "calibrations.json"))
    accounting._calibrated.cache_clear()
    assert PLAN["target_epsilon"] - CALIBRATION_TOLERANCE <= _spent(calibrate_noise_multiplier(**PLAN)) \
        <= PLAN["target_epsilon"]
    accounting._calibrated.cache_clear()


def test_the_cache_keeps_the_newest_answers_only(cache_file, monkeypatch):
    monkeypatch.setattr(calibration_cache, "MAX_ENTRIES", 2)
    for key, value in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        calibration_cache.remember(key, value)
    assert json.loads(cache_file.read_text()) == {"b": 2.0, "c": 3.0}
    assert [p.name for p in cache_file.parent.iterdir()] == ["calibrations.json"]  # no temporary file left
