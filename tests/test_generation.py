"""Cached (ring-buffer) generation draws exactly what naive recomputation draws."""

import jax
import numpy as np
import pytest

from audiolm_jax import generation
from helpers import CONFIGS, make_model, random_codes

OPTIONS = generation.SamplingOptions(temperature=1.0, top_p=0.95)


@pytest.fixture(scope="module")
def tiny():
  return make_model(CONFIGS["tiny"], seed=11)


@pytest.mark.parametrize("prompt_len", [0, 50, 400])
def test_cached_equals_naive(tiny, prompt_len):
  model, params = tiny
  cfg = model.config
  prompt = random_codes(np.random.default_rng(prompt_len), 2, prompt_len)
  steps = 3 * cfg.context // 2  # every ring buffer, z included, wraps
  key = jax.random.key(7)
  naive = generation.generate_naive(model, params, key, num_samples=steps,
                                    prompt_BxP=prompt, options=OPTIONS)
  assert naive.shape == (2, steps)
  assert len(np.unique(naive)) > 20  # really sampling, not stuck
  for block in (1, 7, 64):
    cached = generation.generate(model, params, key, num_samples=steps,
                                 prompt_BxP=prompt, block=block, options=OPTIONS)
    np.testing.assert_array_equal(cached, naive, err_msg=f"block={block}")


def test_odd_geometry_cached_equals_naive():
  model, params = make_model(CONFIGS["odd"], seed=5)
  key = jax.random.key(1)
  prompt = random_codes(np.random.default_rng(0), 1, 77)
  naive = generation.generate_naive(model, params, key, num_samples=200,
                                    prompt_BxP=prompt)
  cached = generation.generate(model, params, key, num_samples=200,
                               prompt_BxP=prompt, block=33)
  np.testing.assert_array_equal(cached, naive)


def test_temperature_zero_is_greedy(tiny):
  model, params = tiny
  greedy = generation.SamplingOptions(temperature=0.0)
  a = generation.generate(model, params, jax.random.key(0), num_samples=60,
                          batch=1, options=greedy)
  b = generation.generate(model, params, jax.random.key(99), num_samples=60,
                          batch=1, options=greedy)
  np.testing.assert_array_equal(a, b)  # the key does not matter
  naive = generation.generate_naive(model, params, jax.random.key(5), num_samples=60,
                                    batch=1, options=greedy)
  np.testing.assert_array_equal(a, naive)


def test_top_p_keeps_the_nucleus():
  logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
  keys = jax.random.split(jax.random.key(0), 2000)
  draws = np.array([int(generation.sample_codes(k, logits, 1.0, 0.7)[0])
                    for k in keys[:400]])
  assert set(draws) == {0, 1}  # 0.5 + 0.3 reaches 0.7: codes 2 and 3 are cut
  assert abs((draws == 0).mean() - 0.5 / 0.8) < 0.08
  with pytest.raises(ValueError, match="top_p"):
    generation.SamplingOptions(top_p=0.0)
