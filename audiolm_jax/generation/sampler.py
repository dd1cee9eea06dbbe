"""Autoregressive sampling for any model family, exact and incremental.

A family's `AudioModel` gives three pure functions (interface.py): `prime` reads a
prompt into a state, `next_logits` predicts the next code, `push` appends one. One
step samples a code from the logits (temperature, nucleus) with a key folded with the
step's index; `generate` runs blocks of steps as one jitted `lax.scan`.
`generate_naive` recomputes the prediction from the whole left context at every step.
With the same key both draw the same samples (tested per family).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from audiolm_jax.models.interface import AudioModel


# ---- Sampling ----------------------------------------------------------------------


def sampling_logits(logits: jax.Array, temperature: float, top_p: float
                    ) -> jax.Array:
  """The logits [..., V] of the distribution `sample_codes` draws from: divided by
  the temperature, codes outside the nucleus at -inf; temperature 0 (greedy) leaves
  only the most likely code (the first, on a tie)."""
  if temperature == 0.0:
    best = jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1], dtype=bool)
    return jnp.where(best, 0.0, -jnp.inf)
  logits = logits / temperature
  if top_p < 1.0:
    sorted_logits = jnp.flip(jnp.sort(logits, axis=-1), axis=-1)
    cum = jnp.cumsum(jax.nn.softmax(sorted_logits, axis=-1), axis=-1)
    # Keep the smallest set whose mass reaches top_p (always at least the top code).
    cutoff_index = jnp.sum(cum < top_p, axis=-1, keepdims=True)
    cutoff = jnp.take_along_axis(sorted_logits, cutoff_index, axis=-1)
    logits = jnp.where(logits < cutoff, -jnp.inf, logits)
  return logits


def sample_codes(key: jax.Array, logits_BxV: jax.Array, temperature: float,
                 top_p: float) -> jax.Array:
  """Draws codes [B] from logits; temperature 0 is greedy, top_p < 1 is nucleus."""
  if temperature == 0.0:
    return jnp.argmax(logits_BxV, axis=-1).astype(jnp.int32)
  return jax.random.categorical(key, sampling_logits(logits_BxV, temperature, top_p),
                                axis=-1).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class SamplingOptions:
  temperature: float = 1.0
  top_p: float = 1.0

  def __post_init__(self):
    if self.temperature < 0:
      raise ValueError(f"temperature={self.temperature} must be >= 0")
    if not 0.0 < self.top_p <= 1.0:
      raise ValueError(f"top_p={self.top_p} must lie in (0, 1]")


# ---- Generation --------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames="model")
def _prime(model: AudioModel, params, prompt_BxP):
  return model.prime(params, prompt_BxP)


@functools.partial(jax.jit, static_argnames=("model", "num_steps", "options"))
def _scan_block(model: AudioModel, params, state, key: jax.Array, start: jax.Array,
                *, num_steps: int, options: SamplingOptions):
  """`num_steps` sampling steps from `state`: (state, codes [B, num_steps])."""

  def step(state, i):
    codes = sample_codes(jax.random.fold_in(key, start + i),
                         model.next_logits(params, state), options.temperature,
                         options.top_p)
    return model.push(params, state, codes), codes

  state, codes = lax.scan(step, state, jnp.arange(num_steps))
  return state, codes.T


def generate_blocks(model: AudioModel, params, key: jax.Array, *, num_samples: int,
                    prompt_BxP: jax.Array | None = None, batch: int = 1,
                    block: int = 4000, options: SamplingOptions = SamplingOptions()
                    ) -> Iterator[np.ndarray]:
  """Yields generated codes [B, <= block] block by block (for progress reporting)."""
  if prompt_BxP is None:
    prompt_BxP = jnp.zeros((batch, 0), jnp.int32)
  state = _prime(model, params, jnp.asarray(prompt_BxP, jnp.int32))
  done = 0
  while done < num_samples:
    n = min(block, num_samples - done)
    state, codes = _scan_block(model, params, state, key, jnp.asarray(done),
                               num_steps=n, options=options)
    done += n
    yield np.asarray(codes)


def generate(model: AudioModel, params, key: jax.Array, *, num_samples: int,
             prompt_BxP: jax.Array | None = None, batch: int = 1, block: int = 4000,
             options: SamplingOptions = SamplingOptions()) -> np.ndarray:
  """Codes [B, num_samples] continuing the prompt (or silence), incrementally."""
  return np.concatenate(list(generate_blocks(
      model, params, key, num_samples=num_samples, prompt_BxP=prompt_BxP,
      batch=batch, block=block, options=options)), axis=1)


def generate_naive(model: AudioModel, params, key: jax.Array, *, num_samples: int,
                   prompt_BxP: jax.Array | None = None, batch: int = 1,
                   options: SamplingOptions = SamplingOptions(),
                   callback: Callable[[int], None] | None = None) -> np.ndarray:
  """Reference: the next code's logits recomputed from scratch at every step.

  A bounded model reads its last `left_context` codes (`target_logits`); an
  unbounded (recurrent) one is re-run over the whole stream so far, kept in a
  fixed-length buffer (later, unwritten positions cannot reach earlier logits).
  """
  silence = model.silence
  if prompt_BxP is None:
    prompt_BxP = jnp.zeros((batch, 0), jnp.int32)
  prompt = jnp.asarray(prompt_BxP, jnp.int32)
  if model.left_context is None:
    start = prompt.shape[1]
    stream = jnp.concatenate([prompt, jnp.full((prompt.shape[0], num_samples), silence,
                                               jnp.int32)], axis=1)

    @jax.jit
    def step(params, stream, i):
      # Logits of position start + i: the model over the stream, one target past it.
      logits = model.logits(params, stream, num_targets=stream.shape[1])
      return sample_codes(jax.random.fold_in(key, i),
                          jax.lax.dynamic_index_in_dim(logits, start + i, 1, False),
                          options.temperature, options.top_p)

    out = []
    for i in range(num_samples):
      codes = step(params, stream, i)
      stream = stream.at[:, start + i].set(codes)
      out.append(np.asarray(codes))
      if callback:
        callback(i)
    return np.stack(out, axis=1)
  context = model.left_context
  stream = jnp.concatenate(
      [jnp.full((prompt.shape[0], context), silence, jnp.int32), prompt], axis=1)

  @jax.jit
  def step(params, context_BxC, i):
    return sample_codes(jax.random.fold_in(key, i),
                        model.target_logits(params, context_BxC),
                        options.temperature, options.top_p)

  out = []
  for i in range(num_samples):
    codes = step(params, stream[:, -context:], i)
    stream = jnp.concatenate([stream, codes[:, None]], axis=1)
    out.append(np.asarray(codes))
    if callback:
      callback(i)
  return np.stack(out, axis=1)
