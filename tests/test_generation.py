"""Cached (ring-buffer) generation draws exactly what naive recomputation draws."""

import jax
import numpy as np
import pytest

from audiolm_jax.generation import sampler
from helpers import CONFIGS, make_family, random_codes

OPTIONS = sampler.SamplingOptions(temperature=1.0, top_p=0.95)


@pytest.fixture(scope="module")
def tiny():
  return make_family(CONFIGS["tiny"], seed=11)


# "local": the shift register of its last 20 codes, from silence, a prompt shorter
# than 20 (silence then prompt) and a longer one.
@pytest.mark.parametrize("name,prompt_len", [("tiny", 0), ("tiny", 50), ("tiny", 400),
                                             ("local", 0), ("local", 7), ("local", 60)])
def test_cached_equals_naive(name, prompt_len):
  model, params = make_family(CONFIGS[name], seed=11)
  cfg = model.config
  prompt = random_codes(np.random.default_rng(prompt_len), 2, prompt_len)
  steps = 3 * cfg.context // 2  # every ring buffer, z included, wraps
  key = jax.random.key(7)
  naive = sampler.generate_naive(model, params, key, num_samples=steps,
                                    prompt_BxP=prompt, options=OPTIONS)
  assert naive.shape == (2, steps)
  assert len(np.unique(naive)) > 20  # really sampling, not stuck
  for block in (1, 7, 64):
    cached = sampler.generate(model, params, key, num_samples=steps,
                                 prompt_BxP=prompt, block=block, options=OPTIONS)
    np.testing.assert_array_equal(cached, naive, err_msg=f"block={block}")


def test_odd_geometry_cached_equals_naive():
  model, params = make_family(CONFIGS["odd"], seed=5)
  key = jax.random.key(1)
  prompt = random_codes(np.random.default_rng(0), 1, 77)
  naive = sampler.generate_naive(model, params, key, num_samples=200,
                                    prompt_BxP=prompt)
  cached = sampler.generate(model, params, key, num_samples=200,
                               prompt_BxP=prompt, block=33)
  np.testing.assert_array_equal(cached, naive)


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


@pytest.mark.parametrize("name", ["tiny", "odd", "local"])
def test_cached_equals_naive_in_bfloat16(name):
  """The sampler runs the model's own encoder code in its dtype: in bfloat16 the
  cached logits match the chunked path's and the draws are the same."""
  cfg = CONFIGS[name].replace(dtype="bfloat16")
  model, params = make_family(cfg, seed=3)
  prompt = random_codes(np.random.default_rng(1), 2, 90)
  key = jax.random.key(2)
  steps = cfg.context + 30  # the z ring ((N - 1) S + 1 long) wraps
  naive = sampler.generate_naive(model, params, key, num_samples=steps,
                                 prompt_BxP=prompt, options=OPTIONS)
  cached = sampler.generate(model, params, key, num_samples=steps,
                            prompt_BxP=prompt, block=25, options=OPTIONS)
  assert len(np.unique(naive)) > 10
  np.testing.assert_array_equal(cached, naive)
  # And the logits themselves, after pushing codes one by one: the same bf16 ops on
  # the same values give the same bits (a float32 re-implementation of the encoder
  # was off by about 0.02 here).
  stream = jax.numpy.asarray(np.concatenate([np.asarray(prompt), cached], axis=1))
  state = sampler._prime(model, params, stream[:, :-40])
  for i in range(40):
    state = model.push(params, state, stream[:, i - 40])
  np.testing.assert_array_equal(model.next_logits(params, state),
                                model.target_logits(params, stream))
