"""How a generated sound compares with its prompt: spectral flatness and level.

Spectral flatness (Wiener entropy) of a frame is the geometric over the arithmetic
mean of its power spectrum: near 0 for a few strong partials (a piano note), about
0.55 for white noise through a Hann window. The median over 64 ms frames says
whether a continuation is tonal like its prompt or has turned into noise; the RMS
level (dBFS) says whether it kept the prompt's loudness.

Both ignore each frame's mean (DC), which is inaudible: a continuation stuck on one
code is a constant, and must read as silence (flatness 1, level -inf), not as a pure
tone (a Hann-windowed constant puts all its power in the two lowest bins, flatness
~0) at the constant's level.
"""

from __future__ import annotations

import numpy as np

from audiolm_jax.data.audio_io import SAMPLE_RATE

FRAME_S = 0.064
# Power floor relative to full scale: keeps digital silence finite (and flat).
_FLOOR = 1e-12


def frame_flatness(audio: np.ndarray, rate: int = SAMPLE_RATE,
                   frame_s: float = FRAME_S) -> np.ndarray:
  """float64[frames]: the spectral flatness of each non-overlapping Hann frame of
  float audio [T] (a trailing partial frame is dropped)."""
  n = int(frame_s * rate)
  frames = len(audio) // n
  if frames == 0:
    raise ValueError(f"{len(audio)} samples hold no {frame_s * 1e3:g} ms frame")
  x = np.asarray(audio[:frames * n], np.float64).reshape(frames, n)
  x = (x - x.mean(axis=-1, keepdims=True)) * np.hanning(n)
  power = np.abs(np.fft.rfft(x, axis=-1)) ** 2 + _FLOOR
  return np.exp(np.mean(np.log(power), axis=-1)) / np.mean(power, axis=-1)


def level_dbfs(audio: np.ndarray, rate: int = SAMPLE_RATE,
               frame_s: float = FRAME_S) -> float:
  """RMS level of float audio [T] in dB relative to full scale, each frame's mean
  removed first (-inf for silence or a constant; a trailing partial frame counts)."""
  x = np.asarray(audio, np.float64)
  if x.size == 0:
    raise ValueError("no audio to measure the level of")
  n = int(frame_s * rate)
  ac = np.concatenate([f - f.mean() for f in np.split(x, np.arange(n, x.size, n))])
  rms = float(np.sqrt(np.mean(np.square(ac))))
  # Below -180 dBFS (a 16-bit step is -96) is the rounding of the mean removal.
  return 20.0 * np.log10(rms) if rms > 1e-9 else float("-inf")


def describe(audio: np.ndarray, rate: int = SAMPLE_RATE) -> dict[str, float]:
  """{"median_flatness", "level_dbfs"} of float audio [T]."""
  return {"median_flatness": float(np.median(frame_flatness(audio, rate))),
          "level_dbfs": level_dbfs(audio)}
