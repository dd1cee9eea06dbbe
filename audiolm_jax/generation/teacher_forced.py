"""The incremental path fed with known codes: each step's logits, teacher-forced.

Sampling (`sampler.py`) draws each code from `next_logits` and `push`es it; here the
code pushed is the given one, so step t returns the logits of code t from codes
0..t-1 (silence before the row's start), computed by the family's sampling state
exactly as a sampler would see them. It equals the dense path's logits to float
rounding (tested for every family), and it is what the codec runs (`codec/`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from audiolm_jax.models.interface import AudioModel


@functools.partial(jax.jit, static_argnames="model")
def start_state(model: AudioModel, params, batch_codes_Bx0: jax.Array):
  """The sampling state of `batch` rows at a stream's start (silence before it)."""
  return model.prime(params, batch_codes_Bx0)


@functools.partial(jax.jit, static_argnames="model")
def forced_block(model: AudioModel, params, state, codes_BxN: jax.Array):
  """N teacher-forced steps: (state after them, logits [B, N, 256])."""

  def step(state, codes_B):
    logits = model.next_logits(params, state)
    return model.push(params, state, codes_B), logits

  state, logits = lax.scan(step, state, codes_BxN.T)
  return state, jnp.swapaxes(logits, 0, 1)


def teacher_forced_logits(model: AudioModel, params, codes_BxT, *, block: int = 1000
                          ) -> np.ndarray:
  """float32 logits [B, T, 256]: step t's prediction of code t from the codes before
  it, by the incremental state, in jitted blocks of `block` steps (the last block is
  padded, so one compiled block serves every length)."""
  codes = np.asarray(codes_BxT, np.int32)
  batch, length = codes.shape
  state = start_state(model, params, jnp.zeros((batch, 0), jnp.int32))
  out = []
  for begin in range(0, length, block):
    chunk = codes[:, begin:begin + block]
    padded = np.pad(chunk, ((0, 0), (0, block - chunk.shape[1])),
                    constant_values=model.silence)
    state, logits = forced_block(model, params, state, jnp.asarray(padded))
    out.append(np.asarray(logits[:, :chunk.shape[1]]))
  if not out:
    return np.zeros((batch, 0, 256), np.float32)
  return np.concatenate(out, axis=1)
