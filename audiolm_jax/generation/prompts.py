"""Prompts to continue: an audio file, a seeded excerpt of a split, or silence; and
what the recording itself does after an excerpt (the yardstick of a continuation)."""

from __future__ import annotations

import numpy as np

from audiolm_jax.data import audio_io, pipeline, quantization, recipes
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.generation import spectrum
from audiolm_jax.models.interface import AudioModel


# A drawn prompt quieter than this is redrawn: a piece's final silence or a rest (a
# few mu-law steps at most) gives the model nothing to continue and the comparisons
# nothing to measure (flatness 1, level -inf).
MIN_PROMPT_DBFS = -60.0
_PROMPT_DRAWS = 100


def split_excerpt(dataset_dir: str, split: str, recipe: str, seconds: float,
                   seed: int) -> tuple[np.ndarray, int, str]:
  """A seeded file of the split: (its codes [T], the prompt's start, its name).

  Draws (file, start) pairs from one seeded stream until the excerpt's level is above
  `MIN_PROMPT_DBFS`, so a seed whose first draw holds audio keeps that draw.
  """
  flat = pipeline.FlatSplit(dataset_dir, split, recipe)
  rng = np.random.default_rng(seed)
  n = int(seconds * SAMPLE_RATE)
  for _ in range(_PROMPT_DRAWS):
    f = int(rng.integers(len(flat.names)))
    file = np.asarray(flat.file(f))
    start = int(rng.integers(0, max(len(file) - n, 0) + 1))
    excerpt = file[start:start + n]
    if excerpt.size and spectrum.level_dbfs(quantization.decode(
        excerpt, recipes.quantization_of(recipe))) > MIN_PROMPT_DBFS:
      return file, start, flat.names[f]
  raise ValueError(f"{_PROMPT_DRAWS} excerpts of {seconds:g} s drawn from the {split} "
                   f"split with seed {seed} were all quieter than {MIN_PROMPT_DBFS:g} "
                   f"dBFS; give --prompt FILE, or check that split's audio")


def load_prompt(path: str | None, model: AudioModel, *, dataset_dir: str | None = None,
                split: str | None = None, seconds: float = 1.0, seed: int = 0,
                recipe: str = recipes.DEFAULT) -> tuple[np.ndarray, str]:
  """uint8 codes [P] of the prompt (at most `context` of them, made by the run's
  `recipe`) and a description."""
  if path and split:
    raise ValueError("give --prompt or --prompt_split, not both")
  if path:
    audio = audio_io.load_audio(path)  # AudioFileError names the file and reason
    codes, what = recipes.codes(recipes.to_pcm16(audio), recipe), path
  elif split:
    file, start, name = split_excerpt(dataset_dir, split, recipe, seconds, seed)
    codes = file[start:start + int(seconds * SAMPLE_RATE)]
    what = f"{name} [{split}] at {start / SAMPLE_RATE:.1f} s"
  else:
    return np.zeros(0, np.uint8), "silence"
  if codes.size == 0:
    raise ValueError(f"the prompt {what} holds no audio")
  if model.left_context is not None and codes.size > model.left_context:
    print(f"note: the prompt is {codes.size} samples; the model reads its last "
          f"{model.left_context}")
  return codes, what


def real_continuation(dataset_dir: str, split: str, *, prompt_seconds: float,
                      seconds: float, seed: int = 0, recipe: str = recipes.DEFAULT
                      ) -> np.ndarray:
  """uint8 codes [<= seconds * 16 kHz]: what the recording does after the prompt
  `load_prompt` cuts from the split with the same arguments (shorter where the
  file ends): the yardstick a generated continuation is read against."""
  file, start, _ = split_excerpt(dataset_dir, split, recipe, prompt_seconds, seed)
  end = start + int(prompt_seconds * SAMPLE_RATE)
  return file[end:end + int(seconds * SAMPLE_RATE)]
