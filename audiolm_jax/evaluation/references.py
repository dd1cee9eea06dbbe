"""Reference predictors, scored on the same targets as the model.

* marginal: the code histogram of the training split (add-one smoothed), ignoring
  context: the entropy of the data's marginal.
* previous sample: a discretized Laplace around the previous code,
  p(c | prev) ∝ exp(-|c - prev| / b), with b fitted on the training split
  (b = mean |x_t - x_{t-1}|, the Laplace MLE): "same as the previous sample", smoothed.

A model that does not beat the second has learned little beyond smoothness.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from audiolm_jax.data.quantization import NUM_CODES

_CODES = np.arange(NUM_CODES)


@dataclasses.dataclass(frozen=True)
class References:
  marginal_log2: np.ndarray  # float64[256]
  laplace_scale: float       # b, in codes

  @classmethod
  def fit(cls, train_codes: np.ndarray, max_samples: int = 20_000_000
          ) -> "References":
    """Fits both predictors on a split's codes (all files back to back)."""
    codes = np.asarray(train_codes[:max_samples]).astype(np.int64)
    if codes.size < 2:
      raise ValueError("need at least two training samples to fit the references")
    counts = np.bincount(codes, minlength=NUM_CODES) + 1.0
    scale = max(float(np.mean(np.abs(np.diff(codes)))), 0.05)
    return cls(np.log2(counts / counts.sum()), scale)

  def previous_log2(self, prev: np.ndarray) -> np.ndarray:
    """float64[..., 256]: log2 p(c | previous code) for every code c."""
    logits = -np.abs(_CODES - np.asarray(prev)[..., None]) / self.laplace_scale
    logits -= logits.max(axis=-1, keepdims=True)
    return (logits - np.log(np.exp(logits).sum(-1, keepdims=True))) / np.log(2)

  def nll_bits(self, targets: np.ndarray, prev: np.ndarray) -> dict[str, np.ndarray]:
    """Per-target NLL in bits of both predictors (arrays shaped like targets)."""
    targets = np.asarray(targets).astype(np.int64)
    prev_lp = self.previous_log2(prev)
    return {
        "marginal": -self.marginal_log2[targets],
        "previous_sample": -np.take_along_axis(prev_lp, targets[..., None], -1)[..., 0],
    }
