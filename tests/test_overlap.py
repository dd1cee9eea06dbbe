"""The leak detector: a planted, requantized copy of test audio in a training file
is found second by second; unrelated audio is not."""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from audiolm_jax.data import tfds_builders, datasets, overlap, quantization, recipes

SR = 16_000
PLANT_AT = int(2.3 * SR) + 37   # in training file t2, off the fingerprint grid


def _music(seed: int, seconds: float) -> np.ndarray:
  """Seeded piano-like notes (decaying harmonics at random onsets) over faint noise."""
  rng = np.random.default_rng(seed)
  n = int(seconds * SR)
  t = np.arange(n) / SR
  out = 1e-3 * rng.normal(size=n)
  onset = 0.0
  while onset < seconds:
    f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
    i = int(onset * SR)
    tt = t[i:] - onset
    note = sum(np.sin(2 * np.pi * k * f0 * tt) / k for k in range(1, 6))
    out[i:] += 0.15 * note * np.exp(-tt * rng.uniform(1, 4))
    onset += rng.uniform(0.1, 0.4)
  return np.clip(out / np.abs(out).max() * 0.8, -1, 1)


def _splits(plant: bool) -> dict[str, dict[str, np.ndarray]]:
  train = {f"t{i}": _music(i, 8) for i in range(4)}
  test = {f"q{i}": _music(10 + i, 6) for i in range(2)}
  validation = {"v0": _music(20, 5)}
  if plant:  # seconds 1-4 of q0, 8-bit mu-law requantized at -6 dB, inside t2
    copy = quantization.decode(quantization.encode(test["q0"][SR:4 * SR] * 0.5))
    train["t2"] = train["t2"].copy()
    train["t2"][PLANT_AT:PLANT_AT + len(copy)] = copy
  return {"train": train, "validation": validation, "test": test}


class Fixture(tfds.core.GeneratorBasedBuilder):
  """A built dataset in the builders' format (16-bit PCM), with or without a plant."""

  VERSION = tfds.core.Version("2.0.0")
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="planted"),
                     tfds.core.BuilderConfig(name="clean")]

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds_builders.features())

  def _split_generators(self, dl_manager):
    splits = _splits(self.builder_config.name == "planted")
    return {s: self._generate_examples(files) for s, files in splits.items()}

  def _generate_examples(self, files):
    for name, audio in files.items():
      yield name, {"audio": recipes.to_pcm16(audio), "name": name,
                   "seconds": len(audio) / SR}


@pytest.fixture(scope="module", params=["planted", "clean"])
def built(request, tmp_path_factory):
  with datasets.scratch_tempdir():  # TFDS's empty temporary folder, removed
    builder = Fixture(config=request.param, file_format="array_record",
                      data_dir=str(tmp_path_factory.mktemp("overlap")))
  builder.download_and_prepare()
  return request.param, str(builder.data_dir)


def test_planted_copy_found_and_nothing_else(built, tmp_path, capsys):
  kind, path = built
  out = tmp_path / "overlap.json"
  assert overlap.main(["--dataset_dir", path, "--out", str(out)]) == 0
  report = json.loads(out.read_text())
  test, validation = report["splits"]["test"], report["splits"]["validation"]
  assert validation["overlap_seconds"] == 0
  assert test["files"]["q1"]["overlap_seconds"] == 0
  q0 = test["files"]["q0"]
  if kind == "planted":
    # Seconds 1, 2 and 3 of q0 lie wholly inside the copy; the others do not.
    assert q0["overlap_seconds"] == 3 and q0["sources"] == {"t2": 3}
    assert 0 < q0["median_bit_error"] < 0.15  # unrelated audio: about 0.5
    assert test["overlap_seconds"] == 3
    assert "q0: 3 of 6 s <- t2 (3 s)" in capsys.readouterr().out
  else:
    assert q0["overlap_seconds"] == 0 and test["overlap_seconds"] == 0


def test_errors_name_the_input(tmp_path, capsys):
  assert overlap.main(["--dataset_dir", str(tmp_path / "none")]) == 2
  assert "no built dataset" in capsys.readouterr().err
