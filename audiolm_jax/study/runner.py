"""Trains and scores a study's runs; every step is skipped once its result exists.

Layout of a study's workdir:

  runs/NAME/            the run's training workdir (checkpoints, metrics, evals)
  runs/NAME/trained.json       written when its training finished: never retrained
  runs/NAME/eval_SPLIT_PROTOCOL.json   written by `evaluate_run`: never rescored
  truncated.json        context at inference (the longest-context paper model)
  results.json, results.md, *.png   the report (`report.py`)

A killed study, run again, resumes a half-trained run from its last checkpoint
(`train_and_evaluate` does) and goes on with what it had not finished. `run_study`
makes every such decision (what to train, resume, score or report) for the command.
"""

from __future__ import annotations

import json
import os
import time

from audiolm_jax import strict_json
from audiolm_jax.evaluation.runs import EvalConfig, evaluate_run
from audiolm_jax.data import pipeline
from audiolm_jax.study import plan, report, truncation
from audiolm_jax.models.interface import count_params
from audiolm_jax.study.plan import Run
from audiolm_jax.checkpoints.run import open_run
from audiolm_jax.training import config as train_config
from audiolm_jax.training import loop


def _read_json(path: str):
  with open(path) as f:
    return json.load(f)


def run_dir(workdir: str, run: Run) -> str:
  return os.path.join(workdir, "runs", run.name)


def _latest_step(directory: str) -> int:
  ckpts = os.path.join(directory, "checkpoints")
  steps = [int(d) for d in os.listdir(ckpts) if d.isdigit()] if os.path.isdir(
      ckpts) else []
  return max(steps, default=0)


def is_trained(workdir: str, run: Run) -> bool:
  return os.path.isfile(os.path.join(run_dir(workdir, run), "trained.json"))


class RunInterruptedError(RuntimeError):
  """A run's training returned before its last step (preempted): not finished."""


def train(workdir: str, run: Run, log=print) -> dict:
  """The run's training summary; trains (or resumes) only if it has none."""
  directory = run_dir(workdir, run)
  marker = os.path.join(directory, "trained.json")
  if os.path.isfile(marker):
    log(f"[{run.name}] trained earlier: not retrained")
    return _read_json(marker)
  os.makedirs(directory, exist_ok=True)
  resumed_from = _latest_step(directory)
  log(f"[{run.name}] training {run.config.num_steps} steps"
      + (f" (resuming at step {resumed_from})" if resumed_from else ""))
  start = time.time()
  result = loop.train_and_evaluate(run.config, directory)
  seconds = time.time() - start
  if result.get("preempted") or result.get("step", 0) < run.config.num_steps:
    # A SIGTERM'd training saves and returns: that run is not finished, so it gets
    # no marker (a marker would freeze a half-trained model into the study).
    raise RunInterruptedError(
        f"[{run.name}] training stopped at step {result.get('step')} of "
        f"{run.config.num_steps}" + (" (SIGTERM)" if result.get("preempted") else "")
        + "; run the study again to resume it")
  params = open_run(directory).params
  steps_here = max(run.config.num_steps - resumed_from, 1)
  summary = {
      "name": run.name, "base": run.base, "seed": run.config.seed,
      "group": run.group, "x": run.x, "family_bar": run.family_bar,
      "model": run.config.model.name, "params": int(count_params(params)),
      "context_samples": train_config.to_model(run.config).left_context,
      "steps": run.config.num_steps, "batch_size": run.config.batch_size,
      "targets": run.config.num_steps * run.config.batch_size
                 * train_config.window_targets(run.config),
      "recipe": run.config.data.recipe,
      "seconds_per_step": seconds / steps_here,
      "train_seconds": seconds / steps_here * run.config.num_steps,
      "resumed_from": resumed_from,
      "validation": result.get("validation"),
      "config": run.config.to_dict(),
  }
  strict_json.write(marker, summary)  # whole: a killed study never leaves half a file
  return summary


def score(workdir: str, run: Run, eval_cfg, log=print) -> dict:
  """{protocol: evaluate's result} on the study's split; scores only what is absent."""
  directory = run_dir(workdir, run)
  step = open_run(directory).step
  out = {}
  caps = eval_cfg.get("max_seconds_per_file")
  for protocol in eval_cfg.protocols:
    cap = caps.get(protocol) if hasattr(caps, "get") else caps
    path = os.path.join(directory, f"eval_{eval_cfg.split}_{protocol}.json")
    if os.path.isfile(path) and _read_json(path).get("step") == step:
      out[protocol] = _read_json(path)
      continue
    log(f"[{run.name}] scoring {eval_cfg.split} under {protocol}")
    out[protocol] = evaluate_run(directory, EvalConfig(
        split=eval_cfg.split, protocol=protocol,
        num_targets=eval_cfg.num_targets, batch=eval_cfg.batch,
        max_seconds_per_file=cap,
        short_past=eval_cfg.get("short_past_samples", 0) if protocol == "full" else 0,
        show_progress=False))
  return out


def truncated(workdir: str, run: Run, eval_cfg, log=print) -> dict:
  """Context at inference for `run` (a paper model): NLL given only its last n
  tokens, for every n; computed once."""
  path = os.path.join(workdir, "truncated.json")
  if os.path.isfile(path) and _read_json(path).get("run") == run.name:
    return _read_json(path)
  log(f"[{run.name}] scoring with its context cut to 1..n tokens")
  trained = open_run(run_dir(workdir, run))
  model, params, step = trained.model, trained.params, trained.step
  flat = pipeline.FlatSplit(trained.dataset_dir, eval_cfg.split, trained.recipe)
  files = [flat.file(i) for i in range(len(flat.names))]
  tokens = list(range(1, model.context_tokens + 1))
  result = {"run": run.name, "step": step, "chunk_size": model.token_samples,
            "split": eval_cfg.split,
            "tokens": truncation.TruncatedContext(
                tuple(tokens), num_positions=eval_cfg.get("truncated_positions", 2000)
            ).run(model, params, files)}
  strict_json.write(path, result)
  return result


class ShardDone(Exception):
  """`run_study` with a shard: its runs are trained and scored; no report yet."""


def run_study(study, workdir: str, *, shard: str | None = None,
              report_only: bool = False, allow_missing: bool = False,
              name: str = "", command: str = "", log=print) -> dict:
  """Trains and scores what `study` lists and is not done yet, then writes the report.

  study: a loaded study config (`plan.load_config_file`). shard "K/N": train and
  score only runs i with i mod N = K, then raise `ShardDone` (the report waits for
  every shard). report_only: train nothing; every run must be trained, or with
  allow_missing the trained ones are reported and the others named. name: the
  report's title where the study config has no `name`. Returns the
  results `report.write` wrote to workdir (results.json, results.md, the plots).
  """
  runs = plan.plan(study)
  mine = plan.shard(runs, shard)
  if not report_only:
    for run in mine:
      train(workdir, run, log=log)
      score(workdir, run, study.eval, log=log)
    if shard:
      raise ShardDone(f"shard {shard} done ({len(mine)} runs); report with "
                      f"--report_only once every shard is")
  trained = [train(workdir, r, log=lambda *_: None) if is_trained(workdir, r)
             else None for r in runs]
  missing = [r.name for r, t in zip(runs, trained) if t is None]
  if missing and not (report_only and allow_missing):
    raise ValueError(f"runs not trained yet: {', '.join(missing)}; run the study "
                     f"(or its shards) first, or pass --report_only --allow_missing "
                     f"for an interim report")
  runs, trained = ([r for r, t in zip(runs, trained) if t is not None],
                   [t for t in trained if t is not None])
  if not runs:
    raise ValueError("no run of this study is trained yet")
  scores = [score(workdir, r, study.eval, log=log) for r in runs]
  longest = max((r for r in runs if r.group == "context"), key=lambda r: r.x,
                default=None)
  context_cut = (truncated(workdir, longest, study.eval, log=log)
                 if longest is not None else None)
  results = report.collect(study.get("name", name), command, trained, scores,
                           context_cut, missing=missing,
                           baseline=study.get("baseline"))
  report.write(results, workdir)
  return results
