"""The contract every registered model family keeps, on trained-like parameters.

One test per claim, parametrized over `helpers.FAMILY_CASES` (a small instance of
each family in `models.FAMILIES`, and the paper model in three geometries), so a new
family gets all of it by registering and adding its case:
- causality: changing a code moves no logit at or before it (nor, for a bounded
  family, past its left context) and always moves the next one;
- one target at a time (`target_logits`) == the dense path;
- teacher-forced incremental logits == the dense path, over short rows where every
  ring wraps and over a 20,000-code row where a recurrence would drift (SaShiMi's
  conv mode against its recurrent mode);
- cached generation == naive recomputation: the drawn codes, and the cached path's
  logits along the drawn stream against the dense path's, after a prompt;
- a stateful family's truncated-BPTT segments == one pass over the stream.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiolm_jax import models
from audiolm_jax.generation import sampler, teacher_forced
from helpers import FAMILY_CASES, family_case, random_codes

CASES = sorted(FAMILY_CASES)
STATEFUL = [c for c in CASES if family_case(c)[0].stateful]
WITH_DTYPE = [c for c in CASES
              if "dtype" in {f.name for f in dataclasses.fields(family_case(c)[0].config)}]
OPTIONS = sampler.SamplingOptions(temperature=1.0, top_p=0.95)
# "Unchanged": FFT convolutions (SaShiMi) mix every position at float32 rounding
# (~1e-6), so below 1e-4; "moved": what one code does to the next prediction.
UNCHANGED, MOVED = 1e-4, 1e-2


def _row_length(model) -> int:
  return 3 * model.left_context if model.left_context else 300


def _dense(model, params, codes, num_targets=None):
  num_targets = codes.shape[1] if num_targets is None else num_targets
  return np.asarray(jax.jit(lambda p, c: model.logits(
      p, c, num_targets=num_targets))(params, jnp.asarray(codes)))


def _close(got, want, tol, msg=""):
  scale = float(np.abs(want).max())
  np.testing.assert_allclose(got, want, rtol=0, atol=tol * max(scale, 1.0),
                             err_msg=msg)


def test_every_registered_family_has_a_case():
  families = {name for name, _ in FAMILY_CASES.values()}
  missing = set(models.FAMILIES) - families
  assert not missing, (f"add a small instance of {sorted(missing)} to "
                       f"tests/helpers.py FAMILY_CASES: the contract runs every family")
  assert STATEFUL and WITH_DTYPE  # the parametrizations below are not empty


@pytest.mark.parametrize("case", CASES)
def test_causality(case, np_rng):
  model, params = family_case(case)
  length = _row_length(model)
  codes = random_codes(np_rng, 1, length)
  base = _dense(model, params, codes)[0]
  for p in (0, length // 3, length // 2, length - 2):
    changed = codes.at[0, p].set((codes[0, p] + 97) % 256)
    diff = np.abs(_dense(model, params, changed)[0] - base).max(axis=-1)
    assert diff[:p + 1].max() <= UNCHANGED, (p, diff[:p + 1].max())  # at or before
    assert diff[p + 1] > MOVED, p  # the sample right before a target is read
    if model.left_context:  # nothing further than the left context reads it
      assert diff[p + model.left_context + 1:].max(initial=0) <= UNCHANGED, p
  if not model.left_context:  # unbounded: a change far back reaches a late target
    changed = codes.at[0, 3].set((codes[0, 3] + 97) % 256)
    assert np.abs(_dense(model, params, changed)[0, -10] - base[-10]).max() > 1e-3


@pytest.mark.parametrize("case", CASES)
def test_one_target_at_a_time_equals_the_dense_path(case, np_rng):
  model, params = family_case(case)
  length = _row_length(model)
  codes = np.asarray(random_codes(np_rng, 2, length))
  dense = _dense(model, params, codes)
  one = jax.jit(lambda c: model.target_logits(params, c))
  targets = (1, length // 2, length - 1)
  if model.left_context:  # one compiled shape: the left context, silence-padded
    ctx = model.left_context
    padded = np.pad(codes, ((0, 0), (ctx, 0)), constant_values=model.silence)
    single = [one(padded[:, t:t + ctx]) for t in targets]
  else:  # the whole past of each target
    single = [one(codes[:, :t]) for t in targets]
  for t, got in zip(targets, single):
    _close(np.asarray(got), dense[:, t], 1e-5, f"target {t}")


@pytest.mark.parametrize("case", CASES)
def test_teacher_forced_equals_the_dense_path(case, np_rng):
  model, params = family_case(case)
  length = 300  # past every bounded case's left context: the rings wrap
  codes = random_codes(np_rng, 2, length)
  dense = _dense(model, params, codes)
  for block in (64, 300):
    forced = teacher_forced.teacher_forced_logits(model, params, codes, block=block)
    assert forced.shape == (2, length, 256)
    _close(forced, dense, 2e-5, f"block={block}")
  # Position t is predicted from the codes before t, not from code t itself.
  assert not np.allclose(forced[:, 1:], dense[:, :-1], atol=1e-2)


@pytest.mark.parametrize("case", CASES)
def test_teacher_forced_equals_the_dense_path_over_20000_codes(case, np_rng):
  """Where a recurrence would drift from its parallel form (SaShiMi's S4D layers
  against their FFT convolution; SampleRNN's GRUs; every ring buffer wrapping
  hundreds of times)."""
  model, params = family_case(case)
  codes = random_codes(np_rng, 1, 20_000)
  dense = _dense(model, params, codes)
  forced = teacher_forced.teacher_forced_logits(model, params, codes, block=5_000)
  for part in (slice(0, 1_000), slice(19_000, 20_000)):  # no growth along the row
    _close(forced[:, part], dense[:, part], 5e-5, f"codes {part}")


def _naive_logits(model, params, stream, start: int) -> np.ndarray:
  """What the naive sampler computes for each position from `start` on: a bounded
  family's `target_logits` over its left context, an unbounded one's dense path."""
  if not model.left_context:
    return _dense(model, params, stream, stream.shape[1] - start)
  ctx = model.left_context
  padded = np.pad(stream, ((0, 0), (ctx, 0)), constant_values=model.silence)
  one = jax.jit(lambda c: model.target_logits(params, c))
  return np.stack([np.asarray(one(padded[:, t:t + ctx]))
                   for t in range(start, stream.shape[1])], axis=1)


def _cached_matches_naive(model, params, prompt_len, steps, tol):
  prompt = random_codes(np.random.default_rng(prompt_len), 2, prompt_len)
  key = jax.random.key(7)
  naive = sampler.generate_naive(model, params, key, num_samples=steps,
                                 prompt_BxP=prompt, options=OPTIONS)
  assert len(np.unique(naive)) > 10  # really sampling, not stuck
  # In blocks of 7 steps: a block ends mid-chunk and mid-ring, the last one short.
  cached = sampler.generate(model, params, key, num_samples=steps, prompt_BxP=prompt,
                            block=7, options=OPTIONS)
  np.testing.assert_array_equal(cached, naive)
  # The logits behind the draws: the cached state primed on the prompt, then fed the
  # drawn codes, against the naive computation over prompt + draws.
  state = sampler._prime(model, params, prompt)  # pylint: disable=protected-access
  _, logits = teacher_forced.forced_block(model, params, state, jnp.asarray(naive))
  stream = np.concatenate([np.asarray(prompt), naive], axis=1)
  _close(np.asarray(logits), _naive_logits(model, params, stream, prompt_len), tol)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("prompt_len", [0, 45])  # silence; more than a tiny chunk
def test_cached_generation_equals_naive(case, prompt_len):
  model, params = family_case(case, seed=11)
  # Bounded: half again the context, so every ring buffer wraps after the prompt.
  steps = 3 * model.left_context // 2 if model.left_context else 70
  _cached_matches_naive(model, params, prompt_len, steps, 2e-5)


@pytest.mark.parametrize("case", WITH_DTYPE)
def test_cached_generation_equals_naive_in_bfloat16(case):
  """The incremental path runs the family's own code in its compute dtype, so its
  logits are the naive path's to the bit here, where one bfloat16 rounding apart
  (about 1e-2) is the size of a float32 re-implementation's error."""
  model, params = family_case(case, seed=3, dtype="bfloat16")
  steps = model.left_context + 30 if model.left_context else 70
  # A prompt shorter than the local path's 20 codes and than any chunk.
  _cached_matches_naive(model, params, 13, steps, 1e-3)


@pytest.mark.parametrize("case", STATEFUL)
def test_segments_with_a_carry_equal_one_pass(case, np_rng):
  model, params = family_case(case)
  codes = random_codes(np_rng, 2, 256)
  whole = _dense(model, params, codes, 256)
  lookback = model.window_context
  first = jnp.pad(codes[:, :128], ((0, 0), (lookback, 0)),
                  constant_values=model.silence)
  garbage = jax.tree.map(lambda x: x + 7.0, model.initial_carry(params, 2))
  logits1, carry = model.logits_with_carry(params, first, garbage, jnp.ones(2, bool))
  logits2, _ = model.logits_with_carry(params, codes[:, 128 - lookback:], carry,
                                       jnp.zeros(2, bool))
  _close(np.concatenate([logits1, logits2], axis=1), whole, 1e-5)
  # A reset restarts the stream: the second segment, its lookback silenced, scores
  # as a file of its own, whatever carry it was handed.
  silent = codes.at[:, 128 - lookback:128].set(model.silence)
  fresh, _ = model.logits_with_carry(params, silent[:, 128 - lookback:], carry,
                                     jnp.ones(2, bool))
  _close(np.asarray(fresh), _dense(model, params, codes[:, 128:], 128), 1e-5)
  assert not np.allclose(fresh, logits2, atol=1e-2)
