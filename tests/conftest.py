"""Shared test setup: strict numerics and small random models."""

import zlib

import jax
import numpy as np
import pytest

# Implicit rank promotion hides shape bugs; make it an error everywhere in tests.
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def np_rng(request):
  """A NumPy generator seeded from the test's name: random, but reproducible."""
  # crc32, not hash(): Python salts str hashes per process, so hash() drew new
  # inputs on every run and a failure could not be reproduced.
  seed = zlib.crc32(request.node.nodeid.encode())
  return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
  """A TFDS data_dir holding the tiny built-in piano set (NumPy renderer)."""
  from audiolm_jax.data import datasets  # pylint: disable=g-import-not-at-top
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  spec = datasets.DatasetSpec("music21_piano", variant="tiny", renderer="numpy")
  datasets.build(spec, data_dir, strict=True)
  return data_dir
