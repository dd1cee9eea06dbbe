"""SaShiMi's own parts: S4D's convolution mode == its recurrence (one layer), the
blocked kernel, the initialisation and the parameter counts. (Causality, conv ==
recurrent over 20,000 codes and generation: tests/test_family_contract.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiolm_jax import models
from audiolm_jax.models import sashimi
from audiolm_jax.models.interface import count_params
from helpers import trained_like

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
