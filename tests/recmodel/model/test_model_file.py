"""Saved models are data: a crafted pickle does not run, and a damaged file fails in one line."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from recmodel.model.bundle import Recommender
from recmodel.model.model_file import ModelFileError, load_model, save_model

FEDREC = str(Path(sys.executable).parent / "fedrec")


class _Payload:
    """Unpickling this calls ``Path.touch(marker)``: code execution if the loader allows it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def saved(tmp_path, tiny_spec, tiny_config):
    folder = tmp_path / "run"
    torch.manual_seed(0)
    model = Recommender(tiny_spec)
    save_model(folder, model.state_dict(), tiny_spec, tiny_config.to_mapping())
    return folder, model


def test_a_saved_model_loads_back_identically(saved):
    folder, model = saved
    saved_model = load_model(folder)
    assert all(torch.equal(saved_model.model.state_dict()[k], v) for k, v in model.state_dict().items())
    assert saved_model.run_config["embedding-dim"] == model.spec.dlrm.embedding_dim
    assert saved_model.item_ids is None
    assert json.loads((folder / "model.json").read_text())["format"] == "fedrec-model/1"


def test_a_crafted_pickle_payload_does_not_execute(saved, tmp_path):
    folder, _ = saved
    marker = tmp_path / "pwned"
    with (folder / "model.pt").open("wb") as handle:
        pickle.dump({"dlrm.x": _Payload(marker)}, handle)
    with pytest.raises(ModelFileError, match="not a weights-only model file; refused to load it"):
        load_model(folder)
    assert not marker.exists()


def test_fedrec_recommend_refuses_a_crafted_model_without_running_it(saved, tmp_path):
    folder, _ = saved
    marker = tmp_path / "pwned"
    torch.save({"dlrm.x": _Payload(marker)}, folder / "model.pt")  # torch's own zip format, same payload
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,timestamp\nu1,i1,1\nu1,i2,2\n")
    result = subprocess.run([FEDREC, "recommend", "--run", str(folder), "--data", str(events), "--out",
                             str(tmp_path / "recs.csv")], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "refused to load it" in result.stderr
    assert not marker.exists() and not (tmp_path / "recs.csv").exists()


@pytest.mark.parametrize("damage, message", [
    ("empty", "not a weights-only model file"),
    ("truncated", "not a weights-only model file"),
    ("garbage", "not a weights-only model file"),
    ("wrong-shape", "the spec needs"),
    ("nan", "NaN or infinite"),
    ("bad-json", "not valid JSON"),
    ("no-json", "model.json: missing"),
])
def test_a_damaged_model_file_fails_with_one_named_line(saved, damage, message):
    folder, model = saved
    weights = folder / "model.pt"
    if damage == "empty":
        weights.write_bytes(b"")
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:200])
    elif damage == "garbage":
        weights.write_bytes(b"\x00\x01 not a model " * 40)
    elif damage in ("wrong-shape", "nan"):
        state = model.state_dict()
        name = next(iter(state))
        state[name] = torch.zeros(3, 3) if damage == "wrong-shape" else torch.full_like(state[name], float("nan"))
        torch.save(state, weights)
    elif damage == "bad-json":
        (folder / "model.json").write_text("{not json")
    else:
        (folder / "model.json").unlink()
    with pytest.raises(ModelFileError, match=message) as caught:
        load_model(folder)
    assert "\n" not in str(caught.value) and str(folder) in str(caught.value)


def test_a_reordered_catalogue_is_refused(tmp_path, tiny_spec, tiny_config):
    folder = tmp_path / "run"
    save_model(folder, Recommender(tiny_spec).state_dict(), tiny_spec, tiny_config.to_mapping(), ["a", "b", "c"])
    assert load_model(folder).item_ids == ["a", "b", "c"]
    document = json.loads((folder / "model.json").read_text())
    document["catalogue_item_ids"] = ["b", "a", "c"]  # every row would be served under another item's id
    (folder / "model.json").write_text(json.dumps(document))
    with pytest.raises(ModelFileError, match="catalogue_item_ids .* changed after the model was saved"):
        load_model(folder)


def test_category_names_are_recorded_and_bound_to_the_weights(tmp_path, tiny_spec, tiny_config):
    folder = tmp_path / "run"
    save_model(folder, Recommender(tiny_spec).state_dict(), tiny_spec, tiny_config.to_mapping(), ["a", "b"],
               ["Comedy", "Horror"])
    assert load_model(folder).category_names == ["Comedy", "Horror"]
    document = json.loads((folder / "model.json").read_text())
    document["catalogue_categories"] = ["Horror", "Comedy"]  # each category row would read the other's
    (folder / "model.json").write_text(json.dumps(document))
    with pytest.raises(ModelFileError, match="catalogue_categories .* changed after the model was saved"):
        load_model(folder)


def test_a_run_folder_that_does_not_exist_is_refused_not_replaced_by_its_parent(saved):
    folder, _ = saved
    with pytest.raises(ModelFileError, match="selected-round-2: no such run directory or model file"):
        load_model(folder / "selected-round-2")
    with pytest.raises(ModelFileError, match="not a model"):
        load_model(folder / "model.json")
