"""A tiny TFDS dataset of random 16-bit audio, for the pipeline and gain tests.

The `toy` fixture (conftest.py) builds it once per test module.
"""

import numpy as np
import tensorflow_datasets as tfds

from audiolm_jax.data import tfds_builders, datasets


class ToySet(tfds.core.GeneratorBasedBuilder):
  """Three files of random 16-bit audio (as the builders store it)."""

  VERSION = tfds.core.Version("2.0.0")
  LENGTHS = {"a": 300, "b": 3000, "c": 1200}

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds_builders.features())

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    for name, n in self.LENGTHS.items():
      yield name, {"audio": file_audio(name, n), "name": name, "seconds": n / 16e3}


def file_audio(name, n):
  """The int16 samples [n] of toy file `name` (seeded by its name)."""
  rng = np.random.default_rng(ord(name))
  return rng.integers(-2 ** 15, 2 ** 15, n).astype(np.int16)


def build(data_dir: str) -> str:
  """Builds ToySet under `data_dir`; returns its dataset folder."""
  with datasets.scratch_tempdir():  # TFDS's empty temporary folder, removed
    builder = ToySet(data_dir=data_dir, file_format="array_record")
  builder.download_and_prepare()
  return str(builder.data_dir)
