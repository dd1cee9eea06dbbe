"""The `aot` suite: every training config compiled for TPU slices, from this CPU.

Rows land in one JSON file as each compile finishes, and a rerun skips the rows it
holds (a sweep takes hours on 2 cores: 1.5-4 minutes a compile). Ordered by value:
1. the paper's three configs at its batch of 40 on 4 chips of v5e and v5p, float32
   and bfloat16, then the largest batch per chip each of those fits;
2. the same on v4 and v6e;
3. the baselines (no remat settings) on 4 chips of each kind, at their own batch or
   the smallest per-chip batch where it does not divide;
4. the 500k config data-parallel on a pod slice (v5e-256).
Each row is `report.plan`'s report; `rows_markdown` makes the tables.
"""

from __future__ import annotations

import json
import os
from typing import Callable

from audiolm_jax import strict_json
from audiolm_jax.aot import report, slices
from audiolm_jax.training.config import load_config_file

PAPER = ("configs/paper_128k.py", "configs/paper_500k.py", "configs/million.py")
BASELINES = ("configs/wavenet.py", "configs/samplernn.py", "configs/sashimi.py")
DTYPES = ("float32", "bfloat16")


def tasks() -> list[dict]:
  """The sweep, in the order it runs: {"key", "config", "slice", "dtype", "what"}."""
  out = []

  def add(config, slice_name, dtype, what):
    out.append({"key": f"{what}|{config}|{slice_name}|{dtype}", "config": config,
                "slice": slice_name, "dtype": dtype, "what": what})

  for kinds in (("v5litepod-4", "v5p-8"), ("v4-8", "v6e-4")):
    for slice_name in kinds:
      for config in PAPER:
        for dtype in DTYPES:
          add(config, slice_name, dtype, "batch40")
    for slice_name in kinds:
      for config in PAPER:
        for dtype in DTYPES:
          add(config, slice_name, dtype, "largest")
  for slice_name in ("v5litepod-4", "v5p-8", "v4-8", "v6e-4"):
    for config in BASELINES:
      add(config, slice_name, "float32", "baseline")
  for dtype in DTYPES:
    add("configs/paper_500k.py", "v5litepod-256", dtype, "pod")
  return out


def _config(task: dict):
  c = load_config_file(task["config"])
  c.model.dtype = task["dtype"]
  return c


def run_task(task: dict, done: dict, say: Callable[[str], None]) -> dict:
  """One row of the sweep (a plan, or a largest-batch search)."""
  slice_ = slices.resolve(task["slice"])
  config = _config(task)
  if task["what"] in ("batch40", "baseline"):
    return report.plan(config, slice_, config_name=task["config"], round_batch=True,
                       search=False, say=say)
  if task["what"] == "largest":
    first = done.get(task["key"].replace("largest|", "batch40|"), {})
    planner = report.Planner(config, slice_, say)
    per_chip = first.get("batch_per_chip", config.batch_size // slice_.chips)
    if "memory" in first:  # the batch-40 row's compile, not repeated
      planner.compiles[(slice_.topology, per_chip, ())] = report.from_summary(
          first["memory"])
    best, confirmed = planner.largest_batch(per_chip, planner.compile(per_chip),
                                            max_compiles=3)
    row = {"config": task["config"], "slice": slice_.rental_name,
           "chip": slice_.chip.kind, "chips": slice_.chips, "dtype": task["dtype"],
           "largest_batch_per_chip": best, "confirmed": confirmed,
           "compiles": {f"{k[1]}/chip": report.step_summary(v)
                        for k, v in planner.compiles.items()}}
    return row
  # pod: the largest per-chip batch that fits 4 chips of that kind, on 256.
  small = done.get(f"largest|{task['config']}|v5litepod-4|{task['dtype']}", {})
  per_chip = max(1, small.get("largest_batch_per_chip") or 1)
  config.batch_size = per_chip * slice_.chips
  return report.plan(config, slice_, config_name=task["config"], search=False,
                     say=say)


def run(out: str, only: str = "", log: Callable[[dict], None] = print,
        say: Callable[[str], None] = print) -> dict:
  """Runs the sweep's missing rows into `out` (JSON: {"rows": {key: row}}), writing
  after every row. `only`: a comma-separated subset of the task kinds."""
  results = {"rows": {}}
  if os.path.isfile(out):
    with open(out, encoding="utf-8") as f:
      results = json.load(f)
  kinds = set(filter(None, only.split(","))) or None
  for task in tasks():
    if task["key"] in results["rows"] or (kinds and task["what"] not in kinds):
      continue
    say(f"== {task['key']}")
    try:
      row = run_task(task, results["rows"], say)
    except (ValueError, report.BatchSplitError) as e:
      row = {"config": task["config"], "slice": task["slice"], "dtype": task["dtype"],
             "error": str(e)}
    row["what"] = task["what"]
    results["rows"][task["key"]] = row
    strict_json.write(out, results, indent=1)
    log({"key": task["key"], **{k: row.get(k) for k in ("fits", "memory",
                                                        "largest_batch_per_chip")}})
  return results
