"""The incremental path fed with known codes gives the dense path's logits, for every
family (the codec's encoder and decoder both run it)."""

import jax
import numpy as np
import pytest

from audiolm_jax import models
from audiolm_jax.generation import teacher_forced
from helpers import CONFIGS, init_trained_like, make_family, random_codes

SMALL = {
    "wavenet": dict(layers=5, blocks=2, residual_channels=8, dilation_channels=8,
                    skip_channels=16, end_channels=16, embedding_dim=8),
    "samplernn": dict(hidden=24, embedding_dim=8),
    "sashimi": dict(d_model=8, n_layers=2, state_size=8),
}


def family_and_params(name, seed=3):
  """A small model of each family (the paper's model in two geometries)."""
  if name in CONFIGS:
    return make_family(CONFIGS[name], seed=seed)
  model = models.build(name, **SMALL[name])
  return model, init_trained_like(model, seed)


@pytest.mark.parametrize("name", ["tiny", "local", "odd", "wavenet", "samplernn",
                                  "sashimi"])
def test_teacher_forced_logits_equal_the_dense_path(np_rng, name):
  model, params = family_and_params(name)
  length = 300  # past every bounded family's context here: the rings wrap
  codes = random_codes(np_rng, 2, length)
  dense = np.asarray(jax.jit(
      lambda p, c: model.logits(p, c, num_targets=length))(params, codes))
  for block in (64, 300):
    forced = teacher_forced.teacher_forced_logits(model, params, codes, block=block)
    assert forced.shape == (2, length, 256)
    np.testing.assert_allclose(forced, dense, rtol=2e-4, atol=2e-4,
                               err_msg=f"block={block}")
  # Position t is predicted from the codes before t, not from code t itself.
  assert not np.allclose(forced[:, 1:], dense[:, :-1], atol=1e-2)


def test_an_empty_row_gives_no_logits():
  model, params = family_and_params("tiny")
  out = teacher_forced.teacher_forced_logits(model, params, np.zeros((3, 0), np.int32))
  assert out.shape == (3, 0, 256)
