"""Recipes: how a file's stored 16-bit PCM becomes the 8-bit codes a model reads.

Datasets keep the raw audio (int16 PCM, 16 kHz mono); the recipe is part of a run's
config (`config.data.recipe`), and training, validation, evaluation and the reference
predictors all read codes made by the same one.

* `mu_law`: mu-law (mu = 255) of the audio as it is (`quantization.encode`).
* `linear`: 256 uniform levels of the audio as it is.
* `sashimi`: SaShiMi's data (state-spaces/s4, `mu_law_encode`): every
  131,072-sample chunk from the file's start is min-max scaled to [-1, 1] on its own,
  then mu-law companded and quantized, in float32 as s4 computes it, epsilons
  included. s4 drops a file's last partial chunk; here it is scaled on its own too,
  so training windows may use it, and the `sashimi` protocol drops it.
"""

from __future__ import annotations

import numpy as np

from audiolm_jax.data import quantization

RECIPES: tuple[str, ...] = ("mu_law", "linear", "sashimi")
DEFAULT = "mu_law"  # a config's data.recipe unless set (and runs saved before recipes)
RAW = "pcm16"  # not a recipe: a split flattened as its stored 16-bit audio
SASHIMI_CHUNK = 131_072
PCM_SCALE = 32768.0  # int16 full scale: what torchaudio and soundfile divide by


def of_data(data_fields) -> str:
  """The recipe of a config's or a saved run's `data` fields (a dict or ConfigDict)."""
  return (data_fields or {}).get("recipe", DEFAULT)


def check(recipe: str) -> None:
  if recipe not in RECIPES:
    raise ValueError(f"unknown recipe {recipe!r}; use one of {RECIPES}")


def quantization_of(recipe: str) -> str:
  """The code kind a recipe produces (what the model must be built for)."""
  check(recipe)
  return "linear" if recipe == "linear" else "mu_law"


def to_pcm16(audio: np.ndarray) -> np.ndarray:
  """float audio in [-1, 1] -> int16 PCM (clipped, rounded); ValueError on NaN/inf."""
  audio = np.asarray(audio)
  if audio.size and not np.all(np.isfinite(audio)):
    raise ValueError("cannot store audio with NaN or infinite samples")
  scaled = np.round(np.clip(audio.astype(np.float64), -1.0, 1.0) * PCM_SCALE)
  return np.clip(scaled, -32768, 32767).astype(np.int16)


def from_pcm16(pcm: np.ndarray) -> np.ndarray:
  """int16 PCM -> float32 in [-1, 1) (pcm / 32768, as torchaudio loads a WAV)."""
  return np.asarray(pcm, np.int16).astype(np.float32) / np.float32(PCM_SCALE)


def sashimi_encode(audio_f32: np.ndarray) -> np.ndarray:
  """s4's `mu_law_encode` of one chunk (float32 arithmetic): uint8 codes."""
  a = np.asarray(audio_f32, np.float32)
  lo, hi = a.min(), a.max()
  a = np.float32(-1) + np.float32(2) * (a - lo) / (hi - lo + np.float32(1e-6))
  mu = np.float32(quantization.MU)
  e = np.sign(a) * (np.log1p(mu * np.abs(a + np.float32(1e-8))) / np.log1p(mu))
  v = (e + np.float32(1)) / np.float32(2)
  v = v * np.float32(quantization.NUM_CODES - 0.01) + np.float32(0.005)
  return v.astype(np.int64).astype(np.uint8)  # truncation, as torch's .long()


def gain_changes_codes(recipe: str) -> bool:
  """False for `sashimi`: it min-max scales every chunk, so a gain cancels out."""
  check(recipe)
  return recipe != "sashimi"


def apply_gain(audio: np.ndarray, gain_db: float) -> np.ndarray:
  """float32 audio scaled by `gain_db` decibels and clipped to [-1, 1] (as a louder
  recording would clip)."""
  if gain_db == 0:
    return audio
  g = np.float32(10.0 ** (gain_db / 20.0))
  return np.clip(audio * g, np.float32(-1), np.float32(1))


def codes(pcm: np.ndarray, recipe: str, gain_db: float = 0.0) -> np.ndarray:
  """uint8 codes [T] of one file's int16 PCM [T] under `recipe`, after a gain."""
  check(recipe)
  audio = apply_gain(from_pcm16(pcm), gain_db)
  if recipe != "sashimi":
    return quantization.encode(audio, recipe)
  out = np.empty(len(audio), np.uint8)
  for start in range(0, len(audio), SASHIMI_CHUNK):
    out[start:start + SASHIMI_CHUNK] = sashimi_encode(
        audio[start:start + SASHIMI_CHUNK])
  return out
