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
CODES_WHITE_NOISE = 1e-4
_MIN_SCALE = 1e-6
PCM16_WHITE_NOISE = 1e-6


@dataclasses.dataclass(frozen=True)
class LinearSetup:
  """The predictor's hyperparameters (recorded in every codec file that uses it)."""

  order: int = 32      # past amplitudes per prediction
  window: int = 1000   # amplitudes the weights and the scale are fitted on
  refit: int = 250     # positions between refits
  floor: float = 0.01  # weight of the uniform distribution mixed into the code's
  sample_rate: int = 16_000
  # The logistic's scale: 0, the window's fit (held for `refit` positions); N > 0, a
  # running mean of |residual| over about the last N positions (it follows a note's
  # attack and decay within a block), the fit's until there is one. On the demo
  # run's validation split (16 segments) 16 took linear prediction alone from 2.96 to
  # 2.77 bits per sample on 8-bit codes, and from 6.32 to 6.03 on 16-bit PCM.
  scale_memory: int = 16
  # Regularization of the fit: a white-noise floor added to r[0] and a Gaussian lag
  # window (Hz). 1e-4 (-40 dB) is about 8-bit codes' quantization noise; 16-bit PCM
  # takes `PCM16` (1e-6: 6.03 -> 5.48 bits per sample there; 1e-5 gave 5.66, 3e-7
  # 5.47, 1e-8 5.77, float32's Levinson losing its footing).
  white_noise: float | None = None  # None: the mode's (`for_mode`)
  lag_window_hz: float = _LAG_WINDOW_HZ

  def __post_init__(self):
    if not 1 <= self.order < self.window or self.refit < 1 or not 0 < self.floor < 1:
      raise ValueError(f"need 1 <= order < window, refit >= 1 and 0 < floor < 1; "
                       f"got {self}")

  def for_mode(self, mode: str) -> "LinearSetup":
    """This setup with the white-noise floor of `mode` where it is not given."""
    if self.white_noise is not None:
      return self
    return dataclasses.replace(self, white_noise=PCM16_WHITE_NOISE if mode == "pcm16"
                               else CODES_WHITE_NOISE)

  @property
  def history(self) -> int:
    return self.window + self.order


class LinearState(NamedTuple):
  ring: jax.Array     # [B, window + order] amplitudes; position t lives at t % size
  weights: jax.Array  # [B, order]: x_t ~ sum_k weights[k] x_{t-1-k}
  scale: jax.Array    # [B] the logistic's scale, as the window's fit gives it
  t: jax.Array        # scalar int32: the next position (every row steps together)
  last: jax.Array     # [B] the prediction of position t - 1
  abs_mean: jax.Array  # [B] running mean of |residual|, not yet normalized by:
  weight: jax.Array   # [B] the running mean's total weight (0: no residual yet)


def start(setup: LinearSetup, batch: int, silence: float) -> LinearState:
  """The state before position 0: all history silence, no fit yet."""
  zeros = jnp.zeros((batch,), jnp.float32)
  return LinearState(jnp.full((batch, setup.history), silence, jnp.float32),
                     jnp.zeros((batch, setup.order), jnp.float32),
                     jnp.full((batch,), _MIN_SCALE, jnp.float32), jnp.int32(0),
                     zeros, zeros, zeros)


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
  r = r * jnp.asarray(np.exp(-0.5 * (2 * np.pi * setup.lag_window_hz
                                     / setup.sample_rate * lags[None, :]) ** 2),
                       jnp.float32)
  if setup.white_noise is None:
    raise ValueError("LinearSetup.white_noise is unset: take for_mode(mode) first")
  r = r.at[:, 0].multiply(1.0 + setup.white_noise)
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
  centre = jnp.sum(state.weights * past, axis=1)
  return state._replace(last=centre), centre


def scale(setup: LinearSetup, state: LinearState) -> jax.Array:
  """[B] the logistic's scale for the position `prediction` just predicted."""
  if not setup.scale_memory:
    return state.scale
  # A logistic's mean |x - centre| is 2 ln 2 times its scale.
  running = state.abs_mean / jnp.maximum(state.weight, 1e-12) / (2 * math.log(2.0))
  return jnp.where(state.weight > 0, jnp.maximum(running, _MIN_SCALE), state.scale)


def push(setup: LinearSetup, state: LinearState, amplitude_B) -> LinearState:
  """The state after position state.t held amplitude_B [B]."""
  amplitude = amplitude_B.astype(jnp.float32)
  ring = state.ring.at[:, state.t % setup.history].set(amplitude)
  state = state._replace(ring=ring, t=state.t + 1)
  if setup.scale_memory:
    keep = 1.0 - 1.0 / setup.scale_memory
    fitted = state.t > 16  # residuals of real predictions only (the first fit's)
    state = state._replace(
        abs_mean=jnp.where(fitted, keep * state.abs_mean
                           + (1 - keep) * jnp.abs(amplitude - state.last), 0.0),
        weight=jnp.where(fitted, keep * state.weight + (1 - keep), 0.0))
  return state


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
