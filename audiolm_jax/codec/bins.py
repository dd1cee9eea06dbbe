"""What the codec codes a sample as: its 8-bit code, and in 16-bit mode its place
inside the code's bin.

A run's quantizer (mu-law or linear, `data/quantization.py`) is monotone in the
amplitude, so the int16 values that quantize to one code form a contiguous bin
[lo, lo + width). Every code's bin is non-empty (mu-law: 5 to 1,388 values; linear:
254 to 257), so a 16-bit sample is exactly (code, offset), offset in [0, width).
The tables here are what encoder and decoder both derive from the quantizer alone.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from audiolm_jax.data import quantization, recipes

MODES = ("pcm16", "codes")  # 16-bit lossless of the PCM; lossless of the 8-bit codes
PCM_MIN, PCM_LEVELS = -32768, 65536


@dataclasses.dataclass(frozen=True)
class Tables:
  code_of_value: np.ndarray  # int32 [65536]: the code of int16 value v at v + 32768
  lo: np.ndarray             # int32 [256]: each code's lowest int16 value
  width: np.ndarray          # int32 [256]: int16 values in each code's bin (>= 1)
  amplitude: np.ndarray      # float32 [256]: each code's decoded amplitude
  code_edges: np.ndarray     # float32 [257]: bin edges in the 8-bit codes' domain
  pcm_edges: np.ndarray      # float32 [257]: bin edges of the int16 values, / 32768

  @property
  def max_width(self) -> int:
    return int(self.width.max())


@functools.lru_cache(maxsize=None)
def tables(kind: str) -> Tables:
  """The bins of quantization `kind` ("mu_law" or "linear")."""
  quantization._check_kind(kind)  # pylint: disable=protected-access
  values = np.arange(PCM_MIN, PCM_MIN + PCM_LEVELS).astype(np.int16)
  code = quantization.encode(recipes.from_pcm16(values), kind).astype(np.int32)
  if np.any(np.diff(code) < 0):
    raise AssertionError(f"the {kind} quantizer is not monotone in int16 values")
  width = np.bincount(code, minlength=quantization.NUM_CODES).astype(np.int32)
  if width.min() < 1:
    raise AssertionError(f"a {kind} code has no int16 value")
  lo = (np.concatenate([[0], np.cumsum(width)[:-1]]) + PCM_MIN).astype(np.int32)
  amplitude = quantization.decode_table(kind).astype(np.float64)
  # 8-bit codes: a code stands for its decoded amplitude; its bin in that domain is
  # halfway to its neighbours' (the reference linear predictor's discretization).
  code_edges = np.concatenate([[-np.inf], (amplitude[1:] + amplitude[:-1]) / 2,
                               [np.inf]])
  pcm_edges = np.concatenate([[-np.inf], (lo[1:] - 0.5) / recipes.PCM_SCALE,
                              [np.inf]])
  return Tables(code, lo, width, amplitude.astype(np.float32),
                code_edges.astype(np.float32), pcm_edges.astype(np.float32))


def check_mode(mode: str) -> None:
  if mode not in MODES:
    raise ValueError(f"unknown codec mode {mode!r}; use one of {MODES}")
