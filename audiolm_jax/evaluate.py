"""Evaluate: `python -m audiolm_jax.evaluate --workdir DIR [--split test]
[--protocol full|sashimi|sampled] [--audio FILE_OR_FOLDER] [--gains_db=-24,-12,0]`.

Scores a trained run's latest checkpoint on a split of its dataset (or of another
built dataset with --dataset_dir), or on any recordings given with --audio (no
dataset needed: each file is read, resampled to 16 kHz mono and turned into codes by
the run's recipe). Prints NLL in bits per sample with a 95 % interval and the
reference predictors (fitted on the whole training split of the run's dataset), and
writes the same numbers, with a per-file breakdown, to
WORKDIR/eval_{split|audio}_{protocol}.json.

--gains_db scores the same audio at fixed gains (each file scaled, clipped, then
quantized by the recipe): a level-robustness check. The references are fitted on the
training split at the same gain, so they know the level the model must discover.
Results go to eval_{split}_{protocol}_gain{G}dB.json, one per gain.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import tqdm
from absl import flags

from audiolm_jax import cli, strict_json
from audiolm_jax.data import audio_io, builders, datasets, pipeline, recipes
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.evaluation import protocols
from audiolm_jax.evaluation.references import References
from audiolm_jax.training import config as train_config
from audiolm_jax.training.checkpointing import load_params


def load_recordings(path: str, recipe: str, gain_db: float = 0.0
                    ) -> tuple[list[str], list[np.ndarray], dict[str, str]]:
  """(names, codes per file, skipped files with reasons) of an audio file or of every
  audio file under a folder, as the builders read them; AudioFileError / BuildError
  when nothing can be scored."""
  if os.path.isdir(path):
    found, _ = builders.audio_folder_files(path)
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
      raise builders.BuildError(
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


def run(workdir: str, *, split: str = "test", protocol: str = "full",
        dataset_dir: str | None = None, audio: str | None = None,
        num_targets: int = 4096, batch: int = 4, num_positions: int = 10_000,
        max_seconds_per_file: float | None = None, seed: int = 0,
        short_past: int = 0, gain_db: float = 0.0, show_progress: bool = True,
        step: int | None = None) -> dict:
  """Evaluates checkpoint `step` (default: the latest) in `workdir` (on audio scaled
  by `gain_db`); returns and saves the results."""
  if protocol not in protocols.PROTOCOLS:
    raise ValueError(f"unknown protocol {protocol!r}; use one of {protocols.PROTOCOLS}")
  config, params, step = load_params(workdir, step)
  model = train_config.saved_model(config)
  recipe = train_config.saved_recipe(config)
  if dataset_dir is None:
    dataset_dir = train_config.saved_dataset_dir(config)
  skipped = {}
  if audio:
    names, files, skipped = load_recordings(audio, recipe, gain_db)
    references = training_references(dataset_dir, recipe, gain_db)
  else:
    datasets.open_split(dataset_dir, split)  # clear error on a bad split or version
    flat = pipeline.FlatSplit(dataset_dir, split, recipe, gain_db)
    names, files = flat.names, [flat.file(i) for i in range(len(flat.names))]
    references = training_references(dataset_dir, recipe, gain_db)
  limit = int(max_seconds_per_file * SAMPLE_RATE) if max_seconds_per_file else None
  scorer = protocols.Scorer(model, params, num_targets=num_targets, batch=batch)
  total = (num_positions if protocol == "sampled"
           else sum(min(len(f), limit or len(f)) for f in files))
  bar = tqdm.tqdm(total=total, unit="sample", unit_scale=True,
                  disable=not (show_progress and cli.show_progress()), file=sys.stdout)
  start = time.time()
  result = protocols.evaluate_files(
      scorer, references, names, files, protocol, recipe=recipe,
      num_positions=num_positions, seed=seed, max_samples_per_file=limit,
      short_past=short_past, progress=bar.update)
  bar.close()
  result.update(workdir=os.path.abspath(workdir), step=step, model=model.name,
                split="audio" if audio else split,
                source=os.path.abspath(audio) if audio else dataset_dir,
                references_from=(f"{dataset_dir} [train]" if references else None),
                skipped=skipped, seconds=time.time() - start,
                max_seconds_per_file=max_seconds_per_file, gain_db=gain_db)
  tag = f"_gain{gain_db:+g}dB" if gain_db else ""
  out = os.path.join(workdir, f"eval_{result['split']}_{protocol}{tag}.json")
  strict_json.write(out, result)
  result["path"] = out
  return result


def format_table(r: dict) -> str:
  unit = {"full": "files", "sashimi": "chunks", "sampled": "files"}[r["protocol"]]
  what = (f"{r['source']}" if r["split"] == "audio" else f"{r['split']} split")
  lines = [f"{what}, protocol {r['protocol']}, recipe {r['recipe']}: "
           f"{r['samples']:,} samples scored ({r['units']} {unit})"
           + (f", first {r['max_seconds_per_file']:g} s of each file"
              if r.get("max_seconds_per_file") else "")
           + (f", gain {r['gain_db']:+g} dB" if r.get("gain_db") else "")]
  if r.get("flops_per_scored_target"):
    lines.append(f"scoring path: {r['scoring_path']}, "
                 f"{r['flops_per_scored_target'] / 1e9:.3g} GFLOP per scored target")
  if r["split"] == "audio":
    refs = list(r["references"])
    lines.append(f"{'file':<40} {'samples':>10} {'bits/sample':>12}"
                 + "".join(f" {k.replace('_', ' '):>16}" for k in refs))
    for row in r["per_file"]:
      lines.append(f"{row['name'][:40]:<40} {row['samples']:>10,} "
                   f"{row['nll_bits']:>12.4f}"
                   + "".join(f" {row[k + '_bits']:>16.4f}" for k in refs))
    for name, reason in sorted(r.get("skipped", {}).items()):
      lines.append(f"skipped {name}: {reason}")
  rows = [("model (step %d)" % r["step"], r["nll_bits"], r["ci95_bits"])]
  rows += [(f"reference: {k.replace('_', ' ')}", v, None)
           for k, v in r["references"].items()]
  lines.append(f"{'total' if r['split'] == 'audio' else 'predictor':<32} "
               f"{'bits/sample':>12} {'95% CI':>10}")
  for name, v, ci in rows:
    lines.append(f"{name:<32} {v:>12.4f} " + (f"{'±':>3}{ci:>7.4f}" if ci == ci
                                               and ci is not None else ""))
  if not r["references"]:
    lines.append("references: not shown (the run's dataset is not built here; they "
                 "are fitted on its training split)")
  lines.append(f"interval: {r['interval']}")
  return "\n".join(lines)


FLAGS = flags.FlagValues()
_STEP = flags.DEFINE_integer("step", None, "checkpoint step to score (default: the "
                             "latest)", flag_values=FLAGS)
_WORKDIR = flags.DEFINE_string("workdir", None, "a training run's workdir",
                               flag_values=FLAGS, required=True)
_SPLIT = flags.DEFINE_string("split", "test", "the split to score", flag_values=FLAGS)
_PROTOCOL = flags.DEFINE_enum("protocol", "full", protocols.PROTOCOLS,
                              "the NLL protocol (README, Evaluation)", flag_values=FLAGS)
_AUDIO = flags.DEFINE_string("audio", None, "score these recordings (a file or a "
                             "folder of them) instead of a dataset split",
                             flag_values=FLAGS)
_DATASET_DIR = flags.DEFINE_string("dataset_dir", None,
                                   "another built dataset (default: the run's)",
                                   flag_values=FLAGS)
_NUM_TARGETS = flags.DEFINE_integer("num_targets", 4096, "targets per dense window "
                                    "(memory vs speed)", flag_values=FLAGS)
_BATCH = flags.DEFINE_integer("batch", 4, "windows per device call", flag_values=FLAGS)
_NUM_POSITIONS = flags.DEFINE_integer("num_positions", 10_000, "sampled: N",
                                      flag_values=FLAGS)
_MAX_SECONDS = flags.DEFINE_float("max_seconds_per_file", None, "score only the first "
                                  "S seconds of each file (quick checks)",
                                  flag_values=FLAGS)
_SEED = flags.DEFINE_integer("seed", 0, "sampled: positions' seed", flag_values=FLAGS)
_GAINS = flags.DEFINE_list("gains_db", ["0"], "score at each of these gains in dB "
                           "(e.g. -24,-12,0: level robustness)", flag_values=FLAGS)


def parse_gains(values: list[str]) -> list[float]:
  """--gains_db values as floats; ValueError naming the bad one."""
  gains = []
  for v in values:
    try:
      g = float(v)
    except ValueError:
      raise ValueError(f"--gains_db: {v!r} is not a number of decibels") from None
    if not -90 <= g <= 40:
      raise ValueError(f"--gains_db: {g:g} dB is outside [-90, 40]")
    gains.append(g)
  if not gains:
    raise ValueError("--gains_db: give at least one gain")
  return gains


def format_gains(results: list[dict]) -> str:
  """One line per gain: the model and every reference, in bits per sample."""
  refs = list(results[0]["references"])
  lines = [f"{'gain dB':>8} {'model':>8} {'± 95%':>7}"
           + "".join(f" {k.replace('_', ' '):>16}" for k in refs)]
  for r in results:
    lines.append(f"{r.get('gain_db', 0.0):>+8g} {r['nll_bits']:>8.4f} "
                 f"{r['ci95_bits']:>7.4f}"
                 + "".join(f" {r['references'][k]:>16.4f}" for k in refs))
  return "\n".join(lines)


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.evaluate", __doc__)) is not None:
    return code
  results = []
  try:
    for gain in parse_gains(_GAINS.value):
      result = run(_WORKDIR.value, split=_SPLIT.value, protocol=_PROTOCOL.value,
                   dataset_dir=_DATASET_DIR.value, audio=_AUDIO.value,
                   num_targets=_NUM_TARGETS.value,
                   batch=_BATCH.value, num_positions=_NUM_POSITIONS.value,
                   max_seconds_per_file=_MAX_SECONDS.value, seed=_SEED.value,
                   gain_db=gain, step=_STEP.value)
      print(format_table(result))
      print(f"written to {result['path']}")
      results.append(result)
  except (FileNotFoundError, ValueError, builders.BuildError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if len(results) > 1 and results[0]["references"]:
    print(format_gains(results))
  return 0


if __name__ == "__main__":
  sys.exit(main())
