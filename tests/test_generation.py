"""Sampling options: greedy decoding and the nucleus. (Cached generation == naive
recomputation, for every family: tests/test_family_contract.py.)"""

import jax
import numpy as np
import pytest

from audiolm_jax.generation import sampler
from helpers import CONFIGS, make_family

OPTIONS = sampler.SamplingOptions(temperature=1.0, top_p=0.95)


@pytest.fixture(scope="module")
def tiny():
  return make_family(CONFIGS["tiny"], seed=11)


def test_temperature_zero_is_greedy(tiny):
  model, params = tiny
  greedy = sampler.SamplingOptions(temperature=0.0)
  a = sampler.generate(model, params, jax.random.key(0), num_samples=60,
                          batch=1, options=greedy)
  b = sampler.generate(model, params, jax.random.key(99), num_samples=60,
                          batch=1, options=greedy)
  np.testing.assert_array_equal(a, b)  # the key does not matter
  naive = sampler.generate_naive(model, params, jax.random.key(5), num_samples=60,
                                    batch=1, options=greedy)
  np.testing.assert_array_equal(a, naive)


def test_top_p_keeps_the_nucleus():
  logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
  keys = jax.random.split(jax.random.key(0), 2000)
  draws = np.array([int(sampler.sample_codes(k, logits, 1.0, 0.7)[0])
                    for k in keys[:400]])
  assert set(draws) == {0, 1}  # 0.5 + 0.3 reaches 0.7: codes 2 and 3 are cut
  assert abs((draws == 0).mean() - 0.5 / 0.8) < 0.08
  with pytest.raises(ValueError, match="top_p"):
    sampler.SamplingOptions(top_p=0.0)
