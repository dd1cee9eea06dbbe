"""strict_json: the files the CLIs write parse in strict JSON readers."""

import json
import os

import numpy as np
import pytest

from audiolm_jax import strict_json
from helpers import strict_loads




def test_non_finite_floats_become_null_and_the_rest_is_kept(np_rng):
  x = float(np_rng.normal())
  value = {"nan": float("nan"), "inf": float("inf"), "neg": -np.inf, "x": x,
           "f32": np.float32(np.nan), "f64": np.float64(x), "i64": np.int64(7),
           "flag": True, "name": "bwv389", "none": None,
           "nested": [{"ci": float("nan"), "n": 3}, (x, float("-inf"))]}
  with pytest.raises(ValueError):  # what json.dumps writes without it
    strict_loads(json.dumps({"nan": float("nan")}))
  loaded = strict_loads(strict_json.dumps(value))
  assert loaded == {"nan": None, "inf": None, "neg": None, "x": x, "f32": None,
                    "f64": x, "i64": 7, "flag": True, "name": "bwv389", "none": None,
                    "nested": [{"ci": None, "n": 3}, [x, None]]}
  assert isinstance(strict_json.finite(np.float64(x)), float)
  assert value["nan"] != value["nan"]  # the caller's value is not changed


def test_write_replaces_a_file_whole(tmp_path, np_rng):
  path = str(tmp_path / "result.json")
  strict_json.write(path, {"old": 1})
  values = np_rng.normal(size=5).tolist()
  strict_json.write(path, {"values": values, "ci95_bits": float("nan")})
  with open(path) as f:
    assert strict_loads(f.read()) == {"values": values, "ci95_bits": None}
  assert os.listdir(tmp_path) == ["result.json"]  # no temporary file left behind
