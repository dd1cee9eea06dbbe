"""SaShiMi: S4D's convolution mode == its recurrence, causality through the pooling
U-Net, recurrent generation == naive recomputation, and the parameter counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiolm_jax import models
from audiolm_jax.generation import sampler
from audiolm_jax.models import sashimi
from audiolm_jax.models.audiolm import count_params
from helpers import init_trained_like, random_codes, trained_like

SMALL = dict(d_model=8, n_layers=2, state_size=8)


@pytest.fixture(scope="module")
def small():
  model = models.build("sashimi", **SMALL)
  return model, init_trained_like(model, 0)


def test_legs_diagonal_initialization():
  a, b = sashimi.legs_diagonal(64)
  assert a.shape == b.shape == (32,)
  np.testing.assert_allclose(a.real, -0.5, atol=1e-9)  # the normal part's spectrum
  assert np.all(a.imag > 0) and np.all(np.abs(b) > 0)


@pytest.mark.parametrize("length", [37, 300])
def test_s4d_convolution_equals_recurrence(length):
  cfg = sashimi.SashimiConfig(state_size=16)
  layer = sashimi.S4D(channels=6, config=cfg)
  u = jax.random.normal(jax.random.key(1), (2, length, 6))
  params = trained_like(layer.init(jax.random.key(2), u), 2)
  conv = layer.apply(params, u)

  def step(x, u_t):
    y, x = layer.apply(params, u_t, x, method=sashimi.S4D.step)
    return x, y

  _, rec = jax.lax.scan(step, jnp.zeros((2, 6, 8), jnp.complex64), jnp.swapaxes(u, 0, 1))
  np.testing.assert_allclose(conv, jnp.swapaxes(rec, 0, 1), rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("length", [1, 5, 4096, 100_003])
def test_blocked_kernel_equals_the_direct_powers(length):
  """The sqrt(L)-blocked Vandermonde product == sum_n w dA^l in float64."""
  rng = np.random.default_rng(length)
  a, _ = sashimi.legs_diagonal(16)
  dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), (3, 1)))
  log_da = dt * a[None]                                          # [3, 8]
  w = rng.normal(size=(3, 8)) + 1j * rng.normal(size=(3, 8))
  got = sashimi.vandermonde_kernel(jnp.asarray(w, jnp.complex64),
                                   jnp.asarray(log_da, jnp.complex64), length)
  powers = np.exp(log_da[..., None] * np.arange(length))
  want = 2 * np.einsum("hn,hnl->hl", w, powers).real
  assert got.shape == (3, length)
  np.testing.assert_allclose(got, want, rtol=0, atol=2e-4 * np.abs(want).max())


def test_parameter_counts_against_the_published_ones():
  count = lambda **kw: count_params(jax.eval_shape(models.build("sashimi", **kw).init,
                                                   jax.random.key(0)))
  # Published: 4.05M (8 layers, SaShiMi's throughput table), 3.13M (6, Table 1).
  assert count() == PAPER_8 and count(n_layers=6) == PAPER_6
  assert abs(PAPER_8 / 4.05e6 - 1) < 0.03 and abs(PAPER_6 / 3.13e6 - 1) < 0.03


PAPER_8, PAPER_6 = 4_070_912, 3_143_680  # ours (docs/baselines.md): +0.5 % and +0.4 %


def test_causality(small, np_rng):
  model, params = small
  codes = random_codes(np_rng, 1, 160)
  logits = jax.jit(lambda c: model.logits(params, c, num_targets=160))
  base = logits(codes)
  # The FFT convolutions mix every position at float32 rounding (~1e-6): "unchanged"
  # means within 1e-4, four orders below what the previous sample does.
  for t in (5, 63, 64, 100):  # inside and at the edges of the 4- and 16-frames
    moved = logits(codes.at[0, t].set((codes[0, t] + 77) % 256))
    np.testing.assert_allclose(moved[:, :t + 1], base[:, :t + 1], atol=1e-4, rtol=0)
    assert np.abs(moved[:, t + 1] - base[:, t + 1]).max() > 1e-2, t
  moved = logits(codes.at[0, 0].set((codes[0, 0] + 77) % 256))
  assert np.abs(moved[:, 150] - base[:, 150]).max() > 1e-3  # unbounded: far back counts


def test_recurrent_generation_equals_naive(small):
  model, params = small
  prompt = random_codes(np.random.default_rng(2), 2, 21)
  options = sampler.SamplingOptions(temperature=1.0, top_p=0.95)
  key = jax.random.key(5)
  cached = sampler.generate(model, params, key, num_samples=70, prompt_BxP=prompt,
                            block=9, options=options)
  naive = sampler.generate_naive(model, params, key, num_samples=70,
                                 prompt_BxP=prompt, options=options)
  assert len(np.unique(cached)) > 15
  np.testing.assert_array_equal(cached, naive)
