"""Backward-adaptive linear prediction inside the codec's coded block, in JAX.

The same predictor as the evaluation's reference (`evaluation/linear_prediction.py`,
NumPy float64), ported so that encoder and decoder step it in lockstep with the
model, inside one `lax.scan`: every `refit` positions the order-`order` weights are
refitted (Hann window, 40 Hz Gaussian lag window, 1e-4 white-noise correction,
Levinson-Durbin) on the `window` amplitudes before the position, and the logistic's
scale is the median |residual| over that window / ln 3. Unlike the reference, a
stream's first fits come early (at 16, 32, 64 and 128 positions) and window only the
audio since the stream's start, so short segments are not coded blind. Each position's prediction
is the weighted sum of the `order` amplitudes before it. Everything is float32 and
deterministic for a given compiled program, which is all the codec needs (encoder
and decoder run the same one); it may differ from the float64 reference in the last
bits, so its cost is measured as its own (docs/codec.md).

Amplitudes are whatever the codec feeds it: a code's decoded amplitude (8-bit
codes), or the exact PCM value / 32768 (16-bit lossless mode). Positions before a
stream's start hold `silence`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_LAG_WINDOW_HZ = 40.0
_WHITE_NOISE = 1e-4
_MIN_SCALE = 1e-6


@dataclasses.dataclass(frozen=True)
class LinearSetup:
  """The predictor's hyperparameters (recorded in every codec file that uses it)."""

  order: int = 32      # past amplitudes per prediction
  window: int = 1000   # amplitudes the weights and the scale are fitted on
  refit: int = 250     # positions between refits
  floor: float = 0.01  # weight of the uniform distribution mixed into the code's
  sample_rate: int = 16_000

  def __post_init__(self):
    if not 1 <= self.order < self.window or self.refit < 1 or not 0 < self.floor < 1:
      raise ValueError(f"need 1 <= order < window, refit >= 1 and 0 < floor < 1; "
                       f"got {self}")

  @property
  def history(self) -> int:
    return self.window + self.order


class LinearState(NamedTuple):
  ring: jax.Array     # [B, window + order] amplitudes; position t lives at t % size
  weights: jax.Array  # [B, order]: x_t ~ sum_k weights[k] x_{t-1-k}
  scale: jax.Array    # [B] the logistic's scale
  t: jax.Array        # scalar int32: the next position (every row steps together)


def start(setup: LinearSetup, batch: int, silence: float) -> LinearState:
  """The state before position 0: all history silence, no fit yet."""
  return LinearState(jnp.full((batch, setup.history), silence, jnp.float32),
                     jnp.zeros((batch, setup.order), jnp.float32),
                     jnp.full((batch,), _MIN_SCALE, jnp.float32), jnp.int32(0))


def levinson(r, order: int):
  """[B, order] weights solving the Toeplitz normal equations of autocorrelations
  r [B, order + 1]; an all-zero row (silence) gives zero weights."""
  j = jnp.arange(order)
  live = r[:, 0] > 0

  def body(i, carry):
    a, err = carry
    below = (j < i)[None, :]
    acc = r[:, i + 1] - jnp.sum(jnp.where(below, a * jnp.take(
        r, jnp.clip(i - j, 0, order), axis=1), 0.0), axis=1)
    k = jnp.where(live, acc / err, 0.0)
    reflected = jnp.take(a, jnp.clip(i - 1 - j, 0, order - 1), axis=1)
    a = jnp.where(below, a - k[:, None] * reflected, a)
    a = jnp.where((j == i)[None, :], k[:, None], a)
    return a, err * (1.0 - k * k)

  a0 = jnp.zeros((r.shape[0], order), r.dtype)
  return lax.fori_loop(0, order, body, (a0, jnp.where(live, r[:, 0], 1.0)))[0]


def _fit(setup: LinearSetup, history, available):
  """(weights [B, order], scale [B]) from the ordered history [B, window + order],
  of which the last `available` amplitudes (>= 1) follow the stream's start: the
  Hann window spans those only, so a stream's first fits see its own audio."""
  p, w = setup.order, setup.window
  n = jnp.clip(available, 1, w).astype(jnp.float32)
  pos = jnp.arange(w, dtype=jnp.float32) - (w - n)  # 0 at the first valid amplitude
  valid = pos >= 0
  hann = jnp.where(valid, 0.5 - 0.5 * jnp.cos(2 * np.pi * pos / jnp.maximum(n - 1, 1)),
                   0.0)
  seg = history[:, p:] * hann[None, :]
  lags = np.arange(p + 1)
  shifted = jnp.take(jnp.pad(seg, ((0, 0), (0, p + 1))),
                     np.arange(w)[None, :] + lags[:, None], axis=1)  # [B, p+1, w]
  r = jnp.einsum("bkw,bw->bk", shifted, seg)
  r = r * jnp.asarray(np.exp(-0.5 * (2 * np.pi * _LAG_WINDOW_HZ / setup.sample_rate
                                     * lags[None, :]) ** 2), jnp.float32)
  r = r.at[:, 0].multiply(1.0 + _WHITE_NOISE)
  a = levinson(r, p)
  past = jnp.take(history, np.arange(w)[:, None] + p - 1 - np.arange(p)[None, :],
                  axis=1)                                            # [B, w, p]
  residual = history[:, p:] - jnp.einsum("bwk,bk->bw", past, a)
  scale = jnp.nanmedian(jnp.where(valid[None, :], jnp.abs(residual), jnp.nan), axis=1)
  return a, jnp.maximum(scale / math.log(3.0), _MIN_SCALE)


# A stream's first fits come sooner than every `refit` positions: before them the
# predictor knows nothing (zero weights), and a first block of silence-fitted
# predictions would cost most of a short segment's bits.
_EARLY_REFITS = (16, 32, 64, 128)


def prediction(setup: LinearSetup, state: LinearState) -> tuple[LinearState, jax.Array]:
  """(state, prediction [B]) of position state.t, refitting first where it is due."""
  size = setup.history

  def refit(s: LinearState) -> LinearState:
    ordered = jnp.take(s.ring, (s.t + jnp.arange(size)) % size, axis=1)
    weights, scale = _fit(setup, ordered, s.t)
    return s._replace(weights=weights, scale=scale)

  t = state.t
  due = (t > 0) & ((t % setup.refit == 0) | functools.reduce(
      jnp.logical_or, [t == e for e in _EARLY_REFITS if e < setup.refit]))
  state = lax.cond(due, refit, lambda s: s, state)
  past = jnp.take(state.ring, (state.t - 1 - jnp.arange(setup.order)) % size, axis=1)
  return state, jnp.sum(state.weights * past, axis=1)


def push(setup: LinearSetup, state: LinearState, amplitude_B) -> LinearState:
  """The state after position state.t held amplitude_B [B]."""
  ring = state.ring.at[:, state.t % setup.history].set(amplitude_B.astype(jnp.float32))
  return state._replace(ring=ring, t=state.t + 1)


def interval_mass(lo, hi, centre, scale):
  """Mass of a logistic(centre, scale) on [lo, hi] (broadcasting), accurate in both
  tails: an interval above the centre is measured from the upper tail."""
  a, b = (lo - centre) / scale, (hi - centre) / scale
  upper = a > 0
  return jnp.where(upper, jax.nn.sigmoid(-a) - jax.nn.sigmoid(-b),
                   jax.nn.sigmoid(b) - jax.nn.sigmoid(a))


def bin_probs(setup: LinearSetup, centre_B, scale_B, edges_V1):
  """float32 [B, V]: the floored, discretized logistic over V bins whose edges are
  edges_V1 [V + 1] (the outer ones infinite)."""
  mass = interval_mass(edges_V1[None, :-1], edges_V1[None, 1:], centre_B[:, None],
                       scale_B[:, None])
  vocab = edges_V1.shape[0] - 1
  return (1.0 - setup.floor) * jnp.maximum(mass, 0.0) + setup.floor / vocab
