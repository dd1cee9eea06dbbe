"""Evaluate: `python -m audiolm_jax.evaluate --workdir DIR [--split test]
[--protocol full|sashimi|sampled]`.

Scores a trained run's latest checkpoint on a split of its dataset (or of another
built dataset with --dataset_dir), prints a table of NLL in bits per sample with a
95% interval and the reference predictors, and writes the same numbers, with a
per-file breakdown, to WORKDIR/eval_{split}_{protocol}.json.
"""

from __future__ import annotations

import json
import os
import sys
import time

import tqdm
from absl import flags

from audiolm_jax import cli
from audiolm_jax.data import datasets, pipeline
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.evaluation import protocols
from audiolm_jax.evaluation.references import References
from audiolm_jax.training import config as train_config
from audiolm_jax.training.checkpointing import load_params


def run(workdir: str, *, split: str = "test", protocol: str = "full",
        dataset_dir: str | None = None, num_targets: int = 4096, batch: int = 4,
        num_positions: int = 10_000, max_seconds_per_file: float | None = None,
        seed: int = 0, show_progress: bool = True) -> dict:
  """Evaluates the latest checkpoint in `workdir`; returns and saves the results."""
  if protocol not in protocols.PROTOCOLS:
    raise ValueError(f"unknown protocol {protocol!r}; use one of {protocols.PROTOCOLS}")
  config, params, step = load_params(workdir)
  model = train_config.saved_model(config)
  if dataset_dir is None:
    dataset_dir = train_config.saved_dataset_dir(config)
  source = datasets.open_split(dataset_dir, split)  # clear error on a bad split
  del source
  flat = pipeline.FlatSplit(dataset_dir, split)
  files = [flat.file(i) for i in range(len(flat.names))]
  references = References.fit(pipeline.FlatSplit(dataset_dir, "train").codes)
  limit = int(max_seconds_per_file * SAMPLE_RATE) if max_seconds_per_file else None
  scorer = protocols.Scorer(model, params, num_targets=num_targets, batch=batch)
  total = sum(min(len(f), limit or len(f)) for f in files)
  bar = tqdm.tqdm(total=total if protocol != "sampled" else None, unit="sample",
                  unit_scale=True, disable=not show_progress, file=sys.stdout)
  start = time.time()
  result = protocols.evaluate_files(
      scorer, references, flat.names, files, protocol, num_positions=num_positions,
      seed=seed, max_samples_per_file=limit, progress=bar.update)
  bar.close()
  result.update(workdir=os.path.abspath(workdir), step=step, split=split,
                dataset=dataset_dir, seconds=time.time() - start,
                max_seconds_per_file=max_seconds_per_file)
  out = os.path.join(workdir, f"eval_{split}_{protocol}.json")
  with open(out, "w") as f:
    json.dump(result, f, indent=2)
  result["path"] = out
  return result


def format_table(r: dict) -> str:
  unit = {"full": "files", "sashimi": "chunks", "sampled": "positions"}[r["protocol"]]
  rows = [("model (step %d)" % r["step"], r["nll_bits"], r["ci95_bits"])]
  rows += [(f"reference: {k.replace('_', ' ')}", v, None)
           for k, v in r["references"].items()]
  lines = [f"{r['split']} split, protocol {r['protocol']}: {r['samples']:,} samples "
           f"scored ({r['units']} {unit})"
           + (f", first {r['max_seconds_per_file']:g} s of each file"
              if r.get("max_seconds_per_file") else ""),
           f"{'predictor':<32} {'bits/sample':>12} {'95% CI':>10}"]
  for name, v, ci in rows:
    lines.append(f"{name:<32} {v:>12.4f} " + (f"{'±':>3}{ci:>7.4f}" if ci is not None
                                               else ""))
  return "\n".join(lines)


FLAGS = flags.FlagValues()
_WORKDIR = flags.DEFINE_string("workdir", None, "a training run's workdir",
                               flag_values=FLAGS, required=True)
_SPLIT = flags.DEFINE_string("split", "test", "the split to score", flag_values=FLAGS)
_PROTOCOL = flags.DEFINE_enum("protocol", "full", protocols.PROTOCOLS,
                              "the NLL protocol (README, Evaluation)", flag_values=FLAGS)
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


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.evaluate", __doc__)) is not None:
    return code
  try:
    result = run(_WORKDIR.value, split=_SPLIT.value, protocol=_PROTOCOL.value,
                 dataset_dir=_DATASET_DIR.value, num_targets=_NUM_TARGETS.value,
                 batch=_BATCH.value, num_positions=_NUM_POSITIONS.value,
                 max_seconds_per_file=_MAX_SECONDS.value, seed=_SEED.value)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(format_table(result))
  print(f"written to {result['path']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
