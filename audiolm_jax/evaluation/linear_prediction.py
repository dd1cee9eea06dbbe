"""Backward-adaptive linear prediction: the strongest of the reference predictors.

The classic model of a resonant signal (LPC, as speech codecs use it), fitted on
nothing but the sample's own past. Every position's amplitude (the decoded code) is
predicted as a weighted sum of the `order` amplitudes before it; the weights are
refitted every `block` positions from the `window` amplitudes before the block
(autocorrelation method: Hann window, a 40 Hz Gaussian lag window and a 1e-4
white-noise correction, then Levinson-Durbin, which keeps the filter stable). The
code's probability is that of a logistic around the prediction, integrated over the
amplitudes nearest to the code's own (discretized in the decoded domain, so it works
for any 256-level quantizer), mixed with a uniform floor of `floor`. The logistic's
scale comes from the same window: the median |residual| / ln 3 (a logistic's median
absolute deviation is s ln 3).

Nothing is fitted on a training split, so no data can leak into it; it knows the
quantizer (its decode table), not the timbre. A piano note is a sum of decaying
partials, which an order-32 predictor follows well; a model that does not beat this
has learned less about the waveform than linear algebra gives for free.

All NumPy, vectorized over blocks.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from audiolm_jax.data import quantization

_LAG_WINDOW_HZ = 40.0     # Gaussian lag window: smooths the spectrum the filter fits
_WHITE_NOISE = 1e-4       # added to r[0]: keeps the normal equations well conditioned
_MIN_SCALE = 1e-6         # logistic scale in amplitude, for an all-silent window
_BLOCKS_AT_ONCE = 2048    # bounds the [blocks, window] arrays: ~16 MB at window 1000


@dataclasses.dataclass(frozen=True)
class LinearPredictor:
  """Per-position NLL of codes under backward-adaptive linear prediction."""

  kind: str = "mu_law"     # the quantizer whose decode table gives the amplitudes
  order: int = 32          # past amplitudes per prediction
  window: int = 1000       # amplitudes the weights and the scale are fitted on
  block: int = 250         # positions between refits
  floor: float = 0.01      # weight of the uniform distribution mixed in
  sample_rate: int = 16_000

  def __post_init__(self):
    quantization._check_kind(self.kind)
    if not 1 <= self.order < self.window:
      raise ValueError(f"need 1 <= order < window, got order {self.order} and "
                       f"window {self.window}")
    if self.block < 1 or not 0 < self.floor < 1:
      raise ValueError(f"need block >= 1 and 0 < floor < 1, got {self.block}, "
                       f"{self.floor}")

  def bits(self, codes_T: np.ndarray, first: int = 0) -> np.ndarray:
    """float64[T - first]: -log2 p(codes[t] | codes[:t]) for t >= first, silence
    before codes[0]; blocks of refits counted from `first`."""
    return self._per_position(codes_T, first, self._block_bits)

  def predictions(self, codes_T: np.ndarray, first: int = 0) -> np.ndarray:
    """float64[T - first]: the amplitude predicted for codes[t] from codes[:t] (the
    logistic's centre, in the decoded domain) for t >= first, as `bits` scores it."""
    return self._per_position(codes_T, first, self._block_predictions)

  def log2_probs(self, codes_T: np.ndarray) -> np.ndarray:
    """float64[T, 256]: log2 p(c | codes[:t]) of every code c at every position t
    (the distributions `bits` scores the actual codes under)."""
    codes = np.asarray(codes_T).astype(np.int64)
    every = np.arange(quantization.NUM_CODES)
    out = self._blocks(codes, np.arange(0, len(codes), self.block), self.block,
                       lambda x, _, pad, starts, table, b: self._block_log2_probs(
                           x, pad, starts, table, b, every))
    return out.reshape(-1, quantization.NUM_CODES)[:len(codes)]

  def bits_at(self, codes_T: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """float64[len(positions)]: -log2 p(codes[t] | codes[:t]) for each t, each
    scored as the first position of a block (what `bits(codes, t)[0]` gives)."""
    positions = np.asarray(positions, np.int64)
    if positions.size and not (0 <= positions.min() and positions.max() < len(codes_T)):
      raise ValueError(f"positions must lie in [0, {len(codes_T)})")
    return self._blocks(np.asarray(codes_T).astype(np.int64), positions, 1,
                        self._block_bits)

  def _per_position(self, codes_T, first, block_fn) -> np.ndarray:
    codes = np.asarray(codes_T).astype(np.int64)
    if not 0 <= first <= len(codes):
      raise ValueError(f"first = {first} is outside [0, {len(codes)}]")
    starts = np.arange(first, len(codes), self.block)
    # Blocks are consecutive: row-major rows of [blocks, block] are positions in
    # order; only the last block can run past the end, and it is cut off here.
    return self._blocks(codes, starts, self.block, block_fn)[:len(codes) - first]

  def _blocks(self, codes, starts, length, block_fn) -> np.ndarray:
    """`block_fn`'s values for blocks of `length` positions from each start,
    row-major."""
    table = quantization.decode_table(self.kind).astype(np.float64)
    pad = self.window + self.order
    x = np.concatenate([np.full(pad, table[quantization.silence_code(self.kind)]),
                        table[codes]])
    out = [block_fn(x, codes, pad, starts[i:i + _BLOCKS_AT_ONCE], table, length)
           for i in range(0, len(starts), _BLOCKS_AT_ONCE)]
    return np.concatenate(out) if out else np.zeros(0)

  def _fit(self, x, pad, starts, b) -> tuple[np.ndarray, np.ndarray]:
    """(predictions [n, b], logistic scale [n]) of the blocks of b from `starts`."""
    p, w = self.order, self.window
    # history[i, j] = x at position starts[i] - (w + p) + j (positions of the codes).
    offsets = np.arange(w + p)
    history = x[(starts + pad - w - p)[:, None] + offsets]
    a = levinson(self._autocorrelation(history[:, p:]), p)       # [n, p]
    residual = history[:, p:] - _predict(history, a, p, w)
    scale = np.maximum(np.median(np.abs(residual), axis=1) / np.log(3.0), _MIN_SCALE)
    # The block's own amplitudes with the p before them: causal predictions.
    span = np.arange(p + b)
    idx = np.minimum((starts + pad - p)[:, None] + span, len(x) - 1)
    return _predict(x[idx], a, p, b), scale

  def _block_bits(self, x, codes, pad, starts, table, b) -> np.ndarray:
    prediction, scale = self._fit(x, pad, starts, b)               # [n, b], [n]
    targets = codes[np.minimum(starts[:, None] + np.arange(b), len(codes) - 1)]
    return -self.log2_prob(prediction, scale[:, None], targets, table).reshape(-1)

  def _block_log2_probs(self, x, pad, starts, table, b, every) -> np.ndarray:
    prediction, scale = self._fit(x, pad, starts, b)               # [n, b], [n]
    return self.log2_prob(prediction[..., None], scale[:, None, None], every,
                          table).reshape(-1)

  def _block_predictions(self, x, codes, pad, starts, table, b) -> np.ndarray:
    del codes, table
    return self._fit(x, pad, starts, b)[0].reshape(-1)

  def _autocorrelation(self, segment: np.ndarray) -> np.ndarray:
    """[n, order + 1] lags of the Hann-windowed segment, lag-windowed."""
    seg = segment * np.hanning(segment.shape[1])
    n = seg.shape[1]
    r = np.stack([np.einsum("ij,ij->i", seg[:, k:], seg[:, :n - k])
                  for k in range(self.order + 1)], axis=1)
    lags = np.arange(self.order + 1)
    r = r * np.exp(-0.5 * (2 * np.pi * _LAG_WINDOW_HZ / self.sample_rate * lags) ** 2)
    r[:, 0] *= 1.0 + _WHITE_NOISE
    return r

  def log2_prob(self, prediction, scale, targets, table) -> np.ndarray:
    """log2 p(target) under the floored, discretized logistic (broadcasting)."""
    edges = np.concatenate([[-np.inf], (table[1:] + table[:-1]) / 2, [np.inf]])
    hi = (edges[targets + 1] - prediction) / scale
    lo = (edges[targets] - prediction) / scale
    mass = _sigmoid(hi) - _sigmoid(lo)
    return np.log2((1 - self.floor) * mass + self.floor / quantization.NUM_CODES)


def _sigmoid(z: np.ndarray) -> np.ndarray:
  return 0.5 * (1.0 + np.tanh(0.5 * z))  # exact at +-inf, no overflow warnings


def _predict(x: np.ndarray, a: np.ndarray, p: int, n: int) -> np.ndarray:
  """[rows, n]: sum_k a[:, k] x[:, p + t - 1 - k] for t < n (x: [rows, p + n])."""
  out = np.zeros((x.shape[0], n))
  for k in range(p):
    out += a[:, k:k + 1] * x[:, p - 1 - k:p - 1 - k + n]
  return out


def levinson(r: np.ndarray, order: int) -> np.ndarray:
  """[n, order] predictor weights a (x_t ~ sum_k a_k x_{t-1-k}) solving the
  Toeplitz normal equations of autocorrelations r [n, order + 1]; all-zero rows
  (silence) give zero weights."""
  n = r.shape[0]
  a = np.zeros((n, order))
  err = r[:, 0].copy()
  live = err > 0
  err = np.where(live, err, 1.0)
  for i in range(order):
    acc = r[:, i + 1] - np.einsum("ij,ij->i", a[:, :i], r[:, i:0:-1])
    k = np.where(live, acc / err, 0.0)
    if i:
      a[:, :i] = a[:, :i] - k[:, None] * a[:, i - 1::-1]
    a[:, i] = k
    err = err * (1.0 - k * k)
  return a
