"""Builds a dataset into a TFDS data_dir.

    python -m audiolm_jax.data.build --dataset music21_piano [--variant tiny]
        [--renderer auto|fluidsynth|numpy|mix] [--data_dir DIR]
    python -m audiolm_jax.data.build --dataset youtube_mix --manual_dir DIR
    python -m audiolm_jax.data.build --dataset audio_folder --manual_dir DIR --name NAME

Prints where the data went, how many files and seconds each split holds, and what
was skipped. An existing build is reused, never overwritten.
"""

from __future__ import annotations

import sys
import time

from absl import flags

from audiolm_jax import cli
from audiolm_jax.data import datasets


FLAGS = flags.FlagValues()
_DATASET = flags.DEFINE_enum("dataset", None, datasets.DATASETS, "which dataset",
                             flag_values=FLAGS, required=True)
_DATA_DIR = flags.DEFINE_string("data_dir", datasets.default_data_dir(),
                                "TFDS data_dir (default: $AUDIOLM_DATA_DIR or "
                                "~/tensorflow_datasets)", flag_values=FLAGS)
_VARIANT = flags.DEFINE_enum("variant", "full", ("full", "tiny"),
                             "music21_piano: full (~4 h) or tiny (~5 min)",
                             flag_values=FLAGS)
_RENDERER = flags.DEFINE_string(
    "renderer", "auto", "music21_piano: who plays it: auto (FluidR3 if installed, "
    "else the NumPy piano), fluidsynth, numpy, mix (several pianos, rooms and levels, "
    "one piano held out for validation/test: every timbre installed here), or a mix "
    "set's full name (mix_A+B_heldout_C)", flag_values=FLAGS)
_MANUAL_DIR = flags.DEFINE_string("manual_dir", None,
                                  "youtube_mix / audio_folder: the audio",
                                  flag_values=FLAGS)
_NAME = flags.DEFINE_string("name", "default", "audio_folder: a name for this dataset",
                            flag_values=FLAGS)
_SEED = flags.DEFINE_integer("seed", 0, "audio_folder split seed", flag_values=FLAGS)
_ALLOW_PARTIAL = flags.DEFINE_bool(
    "allow_partial", False, "youtube_mix: build from a folder that does not hold "
    "exactly its 241 WAVs (the split is then not SaShiMi's)", flag_values=FLAGS)
_STRICT = flags.DEFINE_bool("strict", False,
                            "fail instead of skipping unreadable inputs",
                            flag_values=FLAGS)


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.data.build", __doc__)) is not None:
    return code
  start = time.time()
  try:
    spec = datasets.DatasetSpec(
        name=_DATASET.value, variant=_VARIANT.value, renderer=_RENDERER.value,
        manual_dir=_MANUAL_DIR.value, folder_name=_NAME.value, seed=_SEED.value,
        allow_partial=_ALLOW_PARTIAL.value)
    path = datasets.build(spec, _DATA_DIR.value, strict=_STRICT.value)
  except (datasets.BuildError, ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return cli.EXIT_USAGE
  print(datasets.describe(path))
  print(f"done in {time.time() - start:.1f} s: {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
