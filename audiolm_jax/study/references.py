"""Adds reference predictors a study's results lack, without retraining or rescoring.

    python -m audiolm_jax.study.references --config configs/study/X.py \
        --results DIR/results.json

A results file written before a reference predictor existed (linear prediction came
after the committed CPU study) lacks its column. The references depend on the data
only, so they are computed here on exactly the samples each run was scored on (its
dataset, recipe, split, protocol and per-file cap, from the study config), and added
beside the model's NLL; the runs need not exist any more. The references the file
already holds are recomputed too and must agree, or nothing is written: that proves
the samples are the same. Then the file, its results.md and its plots are rewritten;
`python -m audiolm_jax.study.report` updates docs/studies.md from them.
"""

from __future__ import annotations

import json
import math
import os
import sys

from absl import flags

from audiolm_jax import cli
from audiolm_jax.evaluation.recordings import training_references
from audiolm_jax.data import datasets, pipeline
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.evaluation import protocols
from audiolm_jax.study import plan, report
from audiolm_jax.training import config as train_config

_TOLERANCE = 1e-9  # bits: the same samples give the same float64 means


class SamplesMismatchError(ValueError):
  """The recomputed references disagree with the stored ones: other samples."""


def _check(stored: dict, got: dict, where: str) -> None:
  for name, value in stored.items():
    if name in got and not math.isclose(value, got[name], rel_tol=0,
                                        abs_tol=_TOLERANCE):
      raise SamplesMismatchError(
          f"{where}: the stored {name} reference is {value:.9f} bits but these "
          f"samples give {got[name]:.9f}: the dataset here is not the one the run was "
          f"scored on (another build, renderer or version). Rebuild the study's "
          f"dataset as it was, or rescore the runs; nothing was written")


def add_references(results: dict, study, log=print) -> tuple[dict, int]:
  """(results with every reference predictor on every run and protocol, how many
  evaluations gained one). Builds the study's dataset if it is absent."""
  configs = {run.name: run.config for run in plan.plan(study)}
  cache, added = {}, 0
  for run in results["runs"]:
    if run["name"] not in configs:
      raise ValueError(f"run {run['name']!r} of the results is not in the study "
                       f"config; pass the config the study ran")
    config = configs[run["name"]]
    spec, data_dir = (train_config.to_dataset_spec(config),
                      train_config.data_dir(config))
    recipe = config.data.recipe
    if recipe != run.get("recipe", recipe):
      raise ValueError(f"run {run['name']!r} trained on recipe {run['recipe']!r} but "
                       f"the study config now says {recipe!r}")
    for protocol, ev in run["eval"].items():
      if "linear_prediction" in ev["references"]:
        continue
      cap = ev.get("max_seconds_per_file")
      short = (ev.get("short_past") or {}).get("samples", 0)
      key = (spec, data_dir, recipe, ev["split"], protocol, cap, short)
      if key not in cache:
        cache[key] = _summary(spec, data_dir, recipe, ev["split"], protocol, cap,
                              short, log)
      got, where = cache[key], f"run {run['name']!r}, protocol {protocol!r}"
      if (got["samples"], got["units"]) != (ev["samples"], ev["units"]):
        raise SamplesMismatchError(
            f"{where}: scored {ev['samples']} samples in {ev['units']} units, but the "
            f"dataset here gives {got['samples']} in {got['units']}; nothing was "
            f"written")
      _check(ev["references"], got["references"], where)
      ev["references"] = {**ev["references"], **got["references"]}
      for part in ("short", "rest"):
        if short and ev["short_past"].get(part):
          _check(ev["short_past"][part]["references"],
                 got["short_past"][part]["references"], f"{where}, {part} past")
          ev["short_past"][part]["references"] = {
              **ev["short_past"][part]["references"],
              **got["short_past"][part]["references"]}
      added += 1
  return results, added


def _summary(spec, data_dir, recipe, split, protocol, cap, short_past, log) -> dict:
  path = datasets.dataset_dir(spec, data_dir)
  if not os.path.isfile(os.path.join(path, "dataset_info.json")):
    log(f"building {path} (the study's dataset)")
    datasets.build(spec, data_dir)
  log(f"references on {split} of {path}, {recipe} codes, protocol {protocol}"
      + (f", first {cap:g} s per file" if cap else ""))
  flat = pipeline.FlatSplit(path, split, recipe)
  files = [flat.file(i) for i in range(len(flat.names))]
  return protocols.reference_summary(
      training_references(path, recipe), flat.names, files, protocol,
      max_samples_per_file=int(cap * SAMPLE_RATE) if cap else None,
      short_past=short_past)


FLAGS = flags.FlagValues()
_CONFIG = flags.DEFINE_string("config", None, "the study config the results came from",
                              flag_values=FLAGS, required=True)
_RESULTS = flags.DEFINE_string("results", None, "the study's results.json (rewritten "
                               "with its results.md and plots)", flag_values=FLAGS,
                               required=True)


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.study.references",
                        __doc__)) is not None:
    return code
  try:
    with open(_RESULTS.value) as f:
      results = json.load(f)
    results, added = add_references(results, plan.load_config_file(_CONFIG.value))
  except (FileNotFoundError, ValueError, KeyError, datasets.BuildError) as e:
    print(f"error: {e}", file=sys.stderr)
    return cli.EXIT_USAGE
  if added:
    report.write(results, os.path.dirname(os.path.abspath(_RESULTS.value)))
  print(f"{added} evaluations gained references; {_RESULTS.value} "
        + ("rewritten" if added else "unchanged"))
  return 0


if __name__ == "__main__":
  sys.exit(main())
