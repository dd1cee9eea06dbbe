"""Evaluate: `python -m audiolm_jax.evaluate --workdir DIR [--split test]
[--protocol full|sashimi|sampled]`.

Scores a trained run's latest checkpoint on a split of its dataset (or of another
built dataset with --dataset_dir), prints a table of NLL in bits per sample with a
95% interval and the reference predictors, and writes the same numbers, with a
per-file breakdown, to WORKDIR/eval_{split}_{protocol}.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import tqdm

from audiolm_jax import config_lib, evaluation
from audiolm_jax.checkpointing import load_params
from audiolm_jax.data import datasets, pipeline
from audiolm_jax.model import AudioLM
from audiolm_jax.references import References


def run(workdir: str, *, split: str = "test", protocol: str = "full",
        dataset_dir: str | None = None, num_targets: int = 4096, batch: int = 4,
        num_positions: int = 10_000, max_seconds_per_file: float | None = None,
        seed: int = 0, show_progress: bool = True) -> dict:
  """Evaluates the latest checkpoint in `workdir`; returns and saves the results."""
  if protocol not in evaluation.PROTOCOLS:
    raise ValueError(f"unknown protocol {protocol!r}; use one of {evaluation.PROTOCOLS}")
  config, params, step = load_params(workdir)
  model = AudioLM(config_lib.saved_model_config(config))
  if dataset_dir is None:
    dataset_dir = config_lib.saved_dataset_dir(config)
  source = datasets.open_split(dataset_dir, split)  # clear error on a bad split
  del source
  flat = pipeline.FlatSplit(dataset_dir, split)
  files = [flat.file(i) for i in range(len(flat.names))]
  references = References.fit(pipeline.FlatSplit(dataset_dir, "train").codes)
  limit = int(max_seconds_per_file * 16_000) if max_seconds_per_file else None
  scorer = evaluation.Scorer(model, params, num_targets=num_targets, batch=batch)
  total = sum(min(len(f), limit or len(f)) for f in files)
  bar = tqdm.tqdm(total=total if protocol != "sampled" else None, unit="sample",
                  unit_scale=True, disable=not show_progress, file=sys.stdout)
  start = time.time()
  result = evaluation.evaluate_files(
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


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description="Evaluate a trained run in bits per sample.")
  p.add_argument("--workdir", required=True)
  p.add_argument("--split", default="test")
  p.add_argument("--protocol", default="full", choices=evaluation.PROTOCOLS)
  p.add_argument("--dataset_dir", help="another built dataset (default: the run's)")
  p.add_argument("--num_targets", type=int, default=4096,
                 help="targets per dense window (memory vs speed)")
  p.add_argument("--batch", type=int, default=4, help="windows per device call")
  p.add_argument("--num_positions", type=int, default=10_000, help="sampled: N")
  p.add_argument("--max_seconds_per_file", type=float,
                 help="score only the first S seconds of each file (quick checks)")
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args(argv)
  try:
    result = run(args.workdir, split=args.split, protocol=args.protocol,
                 dataset_dir=args.dataset_dir, num_targets=args.num_targets,
                 batch=args.batch, num_positions=args.num_positions,
                 max_seconds_per_file=args.max_seconds_per_file, seed=args.seed)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(format_table(result))
  print(f"written to {result['path']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
