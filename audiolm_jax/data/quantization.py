"""8-bit quantization of audio: mu-law (mu = 255) and linear, SaShiMi-compatible.

All functions are NumPy (they run in data-pipeline workers, not on the accelerator);
`decode_table` gives the amplitude of every code (for audio output); the model
itself reads codes as code / 128 - 1.

The formulas follow SaShiMi (state-spaces/s4) exactly, so that codes and NLLs are
comparable with published numbers:

  companded  e    = sign(a) * log1p(mu |a|) / log1p(mu)      (linear: e = a)
  code            = floor((e + 1) / 2 * (256 - 0.01) + 0.005)
  decoded    e'   = code / 128 - 1,  a' = sign(e') ((1 + mu)^|e'| - 1) / mu

The silence code (the code of 0.0) is 128 for both kinds.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Kind = Literal["mu_law", "linear"]
KINDS: tuple[str, ...] = ("mu_law", "linear")
NUM_CODES = 256
MU = 255.0
# SaShiMi's quantizer constants: `floor(v * (levels - eps) + eps / 2)`.
_EPS = 0.01


def _check_kind(kind: str) -> None:
  if kind not in KINDS:
    raise ValueError(f"unknown quantization {kind!r}; use one of {KINDS}")


def compand(audio: np.ndarray, kind: Kind = "mu_law") -> np.ndarray:
  """Maps amplitudes in [-1, 1] to the companded domain [-1, 1] (float64)."""
  _check_kind(kind)
  a = np.clip(np.asarray(audio, np.float64), -1.0, 1.0)
  if kind == "linear":
    return a
  return np.sign(a) * np.log1p(MU * np.abs(a)) / np.log1p(MU)


def expand(companded: np.ndarray, kind: Kind = "mu_law") -> np.ndarray:
  """Inverse of `compand` (float64)."""
  _check_kind(kind)
  e = np.asarray(companded, np.float64)
  if kind == "linear":
    return e
  return np.sign(e) * ((1.0 + MU) ** np.abs(e) - 1.0) / MU


def encode(audio: np.ndarray, kind: Kind = "mu_law") -> np.ndarray:
  """Quantizes float audio (any shape, clipped to [-1, 1]) to uint8 codes.

  Raises ValueError on NaN or infinite samples: silently turning them into codes
  would poison a dataset.
  """
  audio = np.asarray(audio)
  if audio.size and not np.all(np.isfinite(audio)):
    bad = int(np.size(audio) - np.count_nonzero(np.isfinite(audio)))
    raise ValueError(f"cannot quantize audio with {bad} NaN or infinite samples")
  v = (compand(audio, kind) + 1.0) / 2.0
  codes = np.floor(v * (NUM_CODES - _EPS) + _EPS / 2)
  return np.clip(codes, 0, NUM_CODES - 1).astype(np.uint8)


def decode(codes: np.ndarray, kind: Kind = "mu_law") -> np.ndarray:
  """Maps integer codes in [0, 256) back to float32 amplitudes in [-1, 1)."""
  codes = np.asarray(codes)
  if codes.size and (codes.min() < 0 or codes.max() >= NUM_CODES):
    raise ValueError(f"codes must lie in [0, {NUM_CODES}); got range "
                     f"[{codes.min()}, {codes.max()}]")
  e = codes.astype(np.float64) / (NUM_CODES // 2) - 1.0
  return expand(e, kind).astype(np.float32)


def bin_centres(codes: np.ndarray, kind: Kind = "mu_law") -> np.ndarray:
  """float32 amplitudes at the middle of each code's bin (in the companded domain).

  `decode` gives a bin's lower edge (the model's input, as SaShiMi's); audio written
  from the centres quantizes back to the same codes after 16-bit rounding (the
  narrowest mu-law bin is ~5.7 PCM steps wide), so a decoded WAV re-encodes exactly.
  """
  codes = np.asarray(codes)
  e = (codes.astype(np.float64) + 0.5) / (NUM_CODES // 2) - 1.0
  return expand(e, kind).astype(np.float32)


def encoder_input(codes):
  """What the encoder reads: code / 128 - 1 in [-1, 1) (SaShiMi's `dequantize`,
  before mu-law expansion). Works on NumPy and JAX arrays alike."""
  return codes.astype(np.float32) / (NUM_CODES // 2) - 1.0


def decode_table(kind: Kind = "mu_law") -> np.ndarray:
  """float32[256]: the amplitude of every code; the model's input lookup."""
  return decode(np.arange(NUM_CODES), kind)


def silence_code(kind: Kind = "mu_law") -> int:
  """The code of amplitude 0.0 (128): what positions before a file's start hold."""
  return int(encode(np.zeros(()), kind))


def minmax_scale(audio: np.ndarray, axis: int | tuple[int, ...] | None = -1
                 ) -> np.ndarray:
  """SaShiMi's per-chunk affine scaling: the minimum goes to -1, the maximum to ~+1.

  Matches s4's `minmax_scale(x, -1, 1)`, including its 1e-6 guard, so a constant
  chunk maps to -1 (as it does there). Returns float64.
  """
  a = np.asarray(audio, np.float64)
  lo = np.min(a, axis=axis, keepdims=True)
  hi = np.max(a, axis=axis, keepdims=True)
  return -1.0 + 2.0 * (a - lo) / (hi - lo + 1e-6)
