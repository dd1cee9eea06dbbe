"""Builds a dataset into a TFDS data_dir.

    python -m audiolm_jax.data.build --dataset music21_piano [--variant tiny]
        [--renderer auto|fluidsynth|numpy] [--data_dir DIR]
    python -m audiolm_jax.data.build --dataset youtube_mix --manual_dir DIR
    python -m audiolm_jax.data.build --dataset audio_folder --manual_dir DIR --name NAME

Prints where the data went, how many files and seconds each split holds, and what
was skipped. An existing build is reused, never overwritten.
"""

from __future__ import annotations

import argparse
import sys
import time

from audiolm_jax.data import datasets


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description="Build an audiolm_jax dataset (TFDS ArrayRecord).")
  parser.add_argument("--dataset", required=True, choices=datasets.DATASETS)
  parser.add_argument("--data_dir", default=datasets.default_data_dir(),
                      help="TFDS data_dir (default: $AUDIOLM_DATA_DIR or "
                           "~/tensorflow_datasets)")
  parser.add_argument("--variant", default="full", choices=("full", "tiny"),
                      help="music21_piano: full (~4 h) or tiny (~5 min)")
  parser.add_argument("--renderer", default="auto",
                      choices=("auto", "fluidsynth", "numpy"))
  parser.add_argument("--manual_dir", help="youtube_mix / audio_folder: the audio")
  parser.add_argument("--name", default="default",
                      help="audio_folder: a name for this dataset")
  parser.add_argument("--seed", type=int, default=0, help="audio_folder split seed")
  parser.add_argument("--strict", action="store_true",
                      help="fail instead of skipping unreadable inputs")
  args = parser.parse_args(argv)

  start = time.time()
  try:
    spec = datasets.DatasetSpec(
        name=args.dataset, variant=args.variant, renderer=args.renderer,
        manual_dir=args.manual_dir, folder_name=args.name, seed=args.seed)
    path = datasets.build(spec, args.data_dir, strict=args.strict)
  except (datasets.BuildError, ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(datasets.describe(path))
  print(f"done in {time.time() - start:.1f} s: {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
