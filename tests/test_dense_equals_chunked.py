"""The project's core claim: the dense path computes exactly the paper's model."""

import numpy as np
import pytest

from helpers import (CONFIGS, chunked, dense, left_context, make_model,
                     random_codes, rel_err)


def _positions(cfg, length, rng):
  s = cfg.chunk_size
  edges = {0, 1, 2, s - 1, s, s + 1, cfg.context - 1, cfg.context, length - 1}
  edges |= set(rng.integers(0, length, 4).tolist())
  return sorted(p for p in edges if 0 <= p < length)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_dense_equals_chunked_near_row_start(name, np_rng):
  """Every target of a row shorter than context + K: silence padding on the left."""
  cfg = CONFIGS[name]
  model, params = make_model(cfg, seed=np_rng.integers(1 << 30))
  length = cfg.context + 3 * cfg.chunk_size // 2
  codes = random_codes(np_rng, 2, length)
  logits = dense(model, params, codes, num_targets=length)
  assert logits.shape == (2, length, 256)
  for t in _positions(cfg, length, np_rng):
    expected = chunked(model, params, left_context(codes, t, cfg.context))
    assert rel_err(logits[:, t], expected) < 1e-5, f"target {t}"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_dense_equals_chunked_on_a_long_row(name, np_rng):
  """Only the last K targets of a row longer than context + K (no padding)."""
  cfg = CONFIGS[name]
  model, params = make_model(cfg, seed=np_rng.integers(1 << 30))
  k, length = 7, cfg.context * 2 + 37
  codes = random_codes(np_rng, 3, length)
  logits = dense(model, params, codes, num_targets=k)
  assert logits.shape == (3, k, 256)
  for i in range(k):
    t = length - k + i
    expected = chunked(model, params, codes[:, t - cfg.context:t])
    assert rel_err(logits[:, i], expected) < 1e-5, f"target {t}"


def test_audio_beyond_the_window_is_not_read(np_rng):
  cfg = CONFIGS["tiny"]
  model, params = make_model(cfg)
  codes = random_codes(np_rng, 1, 1000)
  k = 20
  tail = codes[:, -(cfg.context + k):]
  np.testing.assert_array_equal(dense(model, params, codes, k),
                                dense(model, params, tail, k))
