"""How a generated sound compares with its prompt: flatness, level and band envelope.

Spectral flatness (Wiener entropy) of a frame is the geometric over the arithmetic
mean of its power spectrum: near 0 for a few strong partials (a piano note), about
0.55 for white noise through a Hann window. The median over 64 ms frames says
whether a continuation is tonal like its prompt or has turned into noise; the RMS
level (dBFS) says whether it kept the prompt's loudness.

Flatness alone can be met by a sound that is nothing like the prompt: a low buzz
(pulses repeating at a few tens of Hz) is a dense comb with most power in its lowest
bins, so it reads as tonal. The band distance catches that: the RMS difference, over
third-octave bands from 62.5 Hz to 8 kHz, between the two sounds' shares of their
own energy per band (level-free: where the energy sits, not how much). A piano
continuing a piano moves a few dB (other notes); noise or a buzz moves 10 or more.

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


def _frame_power(audio: np.ndarray, rate: int, frame_s: float) -> np.ndarray:
  """float64[frames, n // 2 + 1]: the power spectrum of each non-overlapping n-sample
  Hann frame of float audio [T], its mean removed (a trailing partial frame dropped)."""
  n = int(frame_s * rate)
  frames = len(audio) // n
  if frames == 0:
    raise ValueError(f"{len(audio)} samples hold no {frame_s * 1e3:g} ms frame")
  x = np.asarray(audio[:frames * n], np.float64).reshape(frames, n)
  x = (x - x.mean(axis=-1, keepdims=True)) * np.hanning(n)
  return np.abs(np.fft.rfft(x, axis=-1)) ** 2


def frame_flatness(audio: np.ndarray, rate: int = SAMPLE_RATE,
                   frame_s: float = FRAME_S) -> np.ndarray:
  """float64[frames]: the spectral flatness of each non-overlapping Hann frame of
  float audio [T] (a trailing partial frame is dropped)."""
  power = _frame_power(audio, rate, frame_s) + _FLOOR
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


# Third-octave bands, 62.5 Hz to 8 kHz: 21 bands; the lowest holds two bins of a
# 64 ms frame's spectrum (15.6 Hz apart), so nothing lower would be resolved.
BAND_EDGES_HZ = 62.5 * 2.0 ** (np.arange(22) / 3)
# A band's share is floored 60 dB below the total: what lies lower is inaudible
# next to the rest, and leakage would otherwise dominate a pure tone's other bands.
_BAND_FLOOR_DB = -60.0


def band_levels_db(audio: np.ndarray, rate: int = SAMPLE_RATE,
                   frame_s: float = FRAME_S) -> np.ndarray:
  """float64[21]: each third-octave band's share of the energy of float audio [T]
  (power averaged over 64 ms Hann frames, each frame's mean removed), in dB, floored
  at -60; all -inf for silence or a constant."""
  n = int(frame_s * rate)
  power = np.mean(_frame_power(audio, rate, frame_s), axis=0)
  freqs = np.fft.rfftfreq(n, 1.0 / rate)
  band = np.searchsorted(BAND_EDGES_HZ, freqs, side="right") - 1  # -1: below
  inside = (band >= 0) & (band < len(BAND_EDGES_HZ) - 1)
  energy = np.bincount(band[inside], power[inside], minlength=len(BAND_EDGES_HZ) - 1)
  total = energy.sum()
  if total < _FLOOR * n:  # the rounding of the mean removal, as in level_dbfs
    return np.full(energy.shape, float("-inf"))
  return np.maximum(10.0 * np.log10(np.maximum(energy / total, 1e-30)),
                    _BAND_FLOOR_DB)


def band_distance_db(a: np.ndarray, b: np.ndarray, rate: int = SAMPLE_RATE) -> float:
  """RMS over third-octave bands of the difference of float audio a [T] and b [T']'s
  band shares, in dB: 0 for the same spectral envelope at any level; inf when either
  is silent."""
  la, lb = band_levels_db(a, rate), band_levels_db(b, rate)
  if not (np.all(np.isfinite(la)) and np.all(np.isfinite(lb))):
    return float("inf")
  return float(np.sqrt(np.mean(np.square(la - lb))))


def describe(audio: np.ndarray, rate: int = SAMPLE_RATE) -> dict[str, float | bool]:
  """{"median_flatness", "level_dbfs", "silent"} of float audio [T]; silent: a
  constant or silence (level -inf)."""
  level = level_dbfs(audio)
  return {"median_flatness": float(np.median(frame_flatness(audio, rate))),
          "level_dbfs": level, "silent": bool(level == float("-inf"))}
