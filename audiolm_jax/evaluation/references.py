"""Reference predictors, scored on the same targets as the model.

The first two are fitted on every sample of the training split (all files); the
third fits itself on each position's own past.

* marginal: the code histogram of the training split (add-one smoothed), ignoring
  context: the entropy of the data's marginal.
* previous sample: a discretized Laplace around the previous code,
  p(c | prev) ∝ exp(-|c - prev| / b), with b fitted on the training split
  (b = mean |x_t - x_{t-1}|, the Laplace MLE): "same as the previous sample", smoothed.

* linear prediction: backward-adaptive order-32 LPC of the decoded amplitudes, a
  discretized logistic around its prediction (`linear_prediction.py`).

A model that does not beat the second has learned little beyond smoothness; one
that does not beat the third, less about the waveform than linear algebra gives.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from audiolm_jax.data import quantization
from audiolm_jax.data.quantization import NUM_CODES
from audiolm_jax.evaluation.linear_prediction import LinearPredictor

_CODES = np.arange(NUM_CODES)
_BLOCK = 1 << 24  # samples read at once while fitting


@dataclasses.dataclass(frozen=True)
class References:
  marginal_log2: np.ndarray  # float64[256]
  laplace_scale: float       # b, in codes
  linear: LinearPredictor = LinearPredictor()

  @classmethod
  def fit(cls, files, kind: quantization.Kind = "mu_law") -> "References":
    """Fits the first two predictors on every sample of a training split of codes
    of quantizer `kind` (which decodes them for linear prediction).

    files: a `FlatSplit` (its files back to back, exactly: one histogram and one
    mean |x_t - x_{t-1}| over all of them, never across a file boundary), or a
    sequence of code arrays.
    """
    if hasattr(files, "file"):
      files = [files.file(i) for i in range(len(files.names))]
    elif isinstance(files, np.ndarray) and files.ndim == 1:
      files = [files]  # one file
    counts = np.zeros(NUM_CODES, np.float64)
    abs_diff, pairs = 0.0, 0
    for codes in files:
      for s in range(0, len(codes), _BLOCK):  # bounded memory on long files
        block = np.asarray(codes[max(s - 1, 0):s + _BLOCK]).astype(np.int16)
        counts += np.bincount(block[1 if s else 0:], minlength=NUM_CODES)
        abs_diff += float(np.abs(np.diff(block)).sum(dtype=np.int64))
        pairs += len(block) - 1
    if counts.sum() < 2 or pairs < 1:
      raise ValueError("need at least two training samples in one file to fit the "
                       "references")
    scale = max(abs_diff / pairs, 0.05)
    counts += 1.0  # add-one smoothing
    return cls(np.log2(counts / counts.sum()), scale, LinearPredictor(kind=kind))

  def previous_log2(self, prev: np.ndarray) -> np.ndarray:
    """float64[..., 256]: log2 p(c | previous code) for every code c."""
    logits = -np.abs(_CODES - np.asarray(prev)[..., None]) / self.laplace_scale
    logits -= logits.max(axis=-1, keepdims=True)
    return (logits - np.log(np.exp(logits).sum(-1, keepdims=True))) / np.log(2)

  def sequence_bits(self, codes_T: np.ndarray, first: int = 0
                    ) -> dict[str, np.ndarray]:
    """Per-position NLL in bits of every predictor for codes[first:] [T - first],
    each position given its past in codes (silence before codes[0])."""
    codes = np.asarray(codes_T)
    silence = quantization.silence_code(self.linear.kind)
    prev = np.concatenate([[silence], codes[:-1]])[:len(codes)].astype(codes.dtype)
    return {**self.nll_bits(codes[first:], prev[first:]),
            "linear_prediction": self.linear.bits(codes, first)}

  def position_bits(self, codes_T: np.ndarray, positions: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """Per-position NLL in bits of every predictor for codes[positions], each given
    its past in codes (what `sequence_bits(codes, t)` gives for position t alone)."""
    codes, positions = np.asarray(codes_T), np.asarray(positions, np.int64)
    silence = quantization.silence_code(self.linear.kind)
    prev = np.where(positions > 0, codes[np.maximum(positions - 1, 0)], silence)
    return {**self.nll_bits(codes[positions], prev),
            "linear_prediction": self.linear.bits_at(codes, positions)}

  def nll_bits(self, targets: np.ndarray, prev: np.ndarray) -> dict[str, np.ndarray]:
    """Per-target NLL in bits of the two context-free predictors (arrays shaped
    like targets); `sequence_bits` adds linear prediction, which needs the past."""
    targets = np.asarray(targets).astype(np.int64)
    prev_lp = self.previous_log2(prev)
    return {
        "marginal": -self.marginal_log2[targets],
        "previous_sample": -np.take_along_axis(prev_lp, targets[..., None], -1)[..., 0],
    }
