"""Recordings to score, read as the builders read them, and the reference predictors
fitted on a run's training split."""

from __future__ import annotations

import os

import numpy as np

from audiolm_jax.data import audio_io, tfds_builders, pipeline, recipes
from audiolm_jax.evaluation.references import References


def load_recordings(path: str, recipe: str, gain_db: float = 0.0
                    ) -> tuple[list[str], list[np.ndarray], dict[str, str]]:
  """(names, codes per file, skipped files with reasons) of an audio file or of every
  audio file under a folder, as the builders read them; AudioFileError / BuildError
  when nothing can be scored."""
  if os.path.isdir(path):
    found, _ = tfds_builders.audio_folder_files(path)
    names, codes, skipped = [], [], {}
    for name in found:
      try:
        audio = audio_io.load_audio(os.path.join(path, name))
      except audio_io.AudioFileError as e:
        skipped[name] = e.reason
        continue
      names.append(name)
      codes.append(recipes.codes(recipes.to_pcm16(audio), recipe, gain_db))
    if not names:
      raise tfds_builders.BuildError(
          f"none of the {len(found)} audio files under {path} could be read: "
          + "; ".join(f"{k}: {v}" for k, v in sorted(skipped.items())[:5]))
    return names, codes, skipped
  audio = audio_io.load_audio(path)  # AudioFileError names the file and the reason
  return ([os.path.basename(path)],
          [recipes.codes(recipes.to_pcm16(audio), recipe, gain_db)], {})


def training_references(dataset_dir: str, recipe: str, gain_db: float = 0.0
                ) -> References | None:
  """Fitted on the whole train split, or None when the run's dataset is absent."""
  if not os.path.isfile(os.path.join(dataset_dir, "dataset_info.json")):
    return None
  return References.fit(pipeline.FlatSplit(dataset_dir, "train", recipe, gain_db),
                        recipes.quantization_of(recipe))
