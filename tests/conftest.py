"""Shared test setup: strict numerics and small random models."""

import jax
import numpy as np
import pytest

# Implicit rank promotion hides shape bugs; make it an error everywhere in tests.
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def np_rng(request):
  """A NumPy generator seeded from the test's name: random, but reproducible."""
  seed = abs(hash(request.node.nodeid)) % (2**32)
  return np.random.default_rng(seed)
