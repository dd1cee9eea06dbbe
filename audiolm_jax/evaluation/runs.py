"""`evaluate_run`: a trained run's checkpoint scored on a split or on recordings,
saved as WORKDIR/eval_{split|audio}_{protocol}[_gainGdB].json; `format_table` is what
`evaluate` prints of it."""

from __future__ import annotations

import dataclasses
import os
import time

from audiolm_jax import progress, strict_json
from audiolm_jax.checkpoints.run import open_run
import numpy as np

from audiolm_jax.data import datasets, pipeline
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.evaluation import protocols
from audiolm_jax.evaluation.scorer import Scorer
from audiolm_jax.evaluation.recordings import load_recordings, training_references


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  """What `evaluate_run` scores, and how."""

  split: str = "test"                  # the run's dataset split (unless `audio`)
  protocol: str = "full"               # full, sashimi or sampled
  dataset_dir: str | None = None       # default: the run's own dataset
  audio: str | None = None             # a file or folder of recordings instead
  num_targets: int = 4096              # targets a scoring pass computes at once
  batch: int = 4
  num_positions: int = 10_000          # sampled: positions drawn
  max_seconds_per_file: float | None = None  # score each file's start only
  seed: int = 0                        # sampled: the draw
  short_past: int = 0                  # full: also split by past shorter than this
  gain_db: float = 0.0                 # the audio scaled first
  show_progress: bool = True
  step: int | None = None              # default: the latest checkpoint


def evaluate_run(workdir: str, config: EvalConfig = EvalConfig()) -> dict:
  """Evaluates checkpoint `config.step` (default: the latest) in `workdir`; returns
  and saves the results."""
  if config.protocol not in protocols.PROTOCOLS:
    raise ValueError(f"unknown protocol {config.protocol!r}; use one of "
                     f"{protocols.PROTOCOLS}")
  run = open_run(workdir, config.step)
  model, params, step, recipe = run.model, run.params, run.step, run.recipe
  evaluator = protocols.evaluator(config.protocol, recipe=recipe,
                                  num_positions=config.num_positions,
                                  seed=config.seed, short_past=config.short_past)
  dataset_dir = config.dataset_dir or run.dataset_dir
  gain_db, audio = config.gain_db, config.audio
  skipped = {}
  if audio:
    names, files, skipped = load_recordings(audio, recipe, gain_db)
  else:
    datasets.open_split(dataset_dir, config.split)  # a clear error on a bad split
    flat = pipeline.FlatSplit(dataset_dir, config.split, recipe, gain_db)
    names, files = flat.names, [flat.file(i) for i in range(len(flat.names))]
  references = training_references(dataset_dir, recipe, gain_db)
  limit = (int(config.max_seconds_per_file * SAMPLE_RATE)
           if config.max_seconds_per_file else None)
  files = [np.asarray(f, np.uint8)[:limit] for f in files]
  scorer = Scorer(model, params, num_targets=config.num_targets, batch=config.batch)
  total = (config.num_positions if config.protocol == "sampled"
           else sum(len(f) for f in files))
  bar = progress.bar(total, unit="sample", unit_scale=True, show=config.show_progress)
  start = time.time()
  result = evaluator.run(scorer, references, names, files, bar.update)
  bar.close()
  result.update(workdir=os.path.abspath(workdir), step=step, model=model.name,
                split="audio" if audio else config.split,
                source=os.path.abspath(audio) if audio else dataset_dir,
                references_from=(f"{dataset_dir} [train]" if references else None),
                skipped=skipped, seconds=time.time() - start,
                max_seconds_per_file=config.max_seconds_per_file, gain_db=gain_db)
  tag = f"_gain{gain_db:+g}dB" if gain_db else ""
  out = os.path.join(workdir, f"eval_{result['split']}_{config.protocol}{tag}.json")
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
