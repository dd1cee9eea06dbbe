"""WaveNet: s4's size and causality at its real receptive field. (Dense == one target
at a time and cached (Fast WaveNet) generation == naive: the family contract.)"""

import flax
import jax
import numpy as np
import pytest

from audiolm_jax import models
from audiolm_jax.models.interface import count_params
from helpers import init_trained_like, random_codes

# s4's dilations (4 x 10, receptive field 4,093) with narrow channels: fast on a CPU.
NARROW = dict(residual_channels=8, dilation_channels=8, skip_channels=16,
              end_channels=16, embedding_dim=8)


@pytest.fixture(scope="module")
def narrow():
  model = models.build("wavenet", **NARROW)
  return model, init_trained_like(model, 0)


def test_s4_size_and_receptive_field():
  model = models.build("wavenet")
  shapes = jax.eval_shape(model.init, jax.random.key(0))
  # docs/design.md, "The baselines' sources"; Table 1 says 4.24M.
  assert count_params(shapes) == 4_244_480
  assert model.left_context == 4_093


def test_causality_at_the_receptive_field(narrow, np_rng):
  model, params = narrow
  k = 64
  codes = random_codes(np_rng, 1, 4_093 + k + 10)
  t = codes.shape[1] - k  # the first target
  logits = jax.jit(lambda c: model.logits(params, c, num_targets=k))
  base = logits(codes)

  def changed(position):
    return codes.at[0, position].set((codes[0, position] + 101) % 256)

  # At or after a target: its logits do not move.
  moved = logits(changed(t + 5))
  np.testing.assert_array_equal(moved[:, :6], base[:, :6])
  assert not np.allclose(moved[:, 6], base[:, 6])
  # The sample right before a target changes it; 4,094 back does not.
  for back, same in ((1, False), (4_094, True)):
    moved = logits(changed(t + 20 - back))
    assert np.array_equal(moved[:, 20], base[:, 20]) == same, back
  # 4,093 back reaches the target only through the older tap of all 40 layers: a
  # product far below float32's resolution of the logits, so measure it as a
  # gradient with respect to the embedded inputs instead.
  cfg = model.config

  def from_embedded(module, e_BxLxE):
    x, skip = module.start(e_BxLxE), 0.0
    for i, d in enumerate(cfg.dilations):
      z, x = module._layer(i, x, d)  # pylint: disable=protected-access
      skip = skip + module.skip[i](z[:, -1:])
    return module._head(skip)  # pylint: disable=protected-access

  e = jax.random.normal(jax.random.key(0), (1, 4_094, cfg.embedding_dim))
  grad = jax.grad(lambda e: flax.linen.apply(from_embedded, model.module)(
      {"params": params}, e).sum())(e)
  reach = np.abs(np.asarray(grad[0])).max(axis=-1)  # per input position
  assert reach[0] == 0.0 and reach[1] > 0.0  # 4,094 back: no path; 4,093: one


def test_receptive_field_boundary_is_exact():
  """A smaller stack (2 x 5 layers, receptive field 63) where every path is visible
  in float32: 63 codes back change a target, 64 do not."""
  model = models.build("wavenet", layers=5, blocks=2, **NARROW)
  params = init_trained_like(model, 2)
  assert model.left_context == 63
  codes = random_codes(np.random.default_rng(1), 1, 200)
  base = model.logits(params, codes, num_targets=1)
  for back, same in ((1, False), (63, False), (64, True)):
    moved = codes.at[0, 199 - back].set((codes[0, 199 - back] + 77) % 256)
    assert np.array_equal(model.logits(params, moved, num_targets=1), base) == same


def test_config_errors():
  with pytest.raises(ValueError, match="kernel_size=3"):
    models.build("wavenet", kernel_size=3)
  with pytest.raises(ValueError, match="unknown model family 'wavnet'"):
    models.build("wavnet")
