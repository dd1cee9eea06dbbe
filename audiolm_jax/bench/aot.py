"""The `aot` suite: every training config compiled for TPU slices, from this CPU.

Rows land in one JSON file as each compile finishes, and a rerun skips the rows it
holds (a sweep takes hours on 2 cores: 1.5-4 minutes a compile). Ordered by value:
1. the paper's three configs at its batch of 40 on 4 chips of v5e and v5p, float32
   and bfloat16, and the 500k config data-parallel on a v5e pod (256 chips);
2. the same at batch 40 on v4 and v6e;
3. the largest batch per chip that fits, for the rows of 1 (then of 2);
4. the baselines (no remat settings) on 4 chips of each kind, at their own batch or
   the nearest per-chip batch where it does not divide;
5. `gpu`: the paper's configs at batch 40 on 4 A100s (the paper's machine) and 4
   H100s, through XLA's GPU compiler (in an environment with the `cuda` extra:
   `--aot_only gpu`; the TPU and GPU sweeps may write one file).
Each row is `report.plan`'s report; `rows_markdown` makes the tables.
"""

from __future__ import annotations

import json
import os
import re
from typing import Callable

import jax

from audiolm_jax import strict_json
from audiolm_jax.aot import gpus, report, slices
from audiolm_jax.training.config_loader import load_config_file

PAPER = ("configs/paper_128k.py", "configs/paper_500k.py", "configs/million.py")
BASELINES = ("configs/wavenet.py", "configs/samplernn.py", "configs/sashimi.py")
DTYPES = ("float32", "bfloat16")


def tasks() -> list[dict]:
  """The sweep, in the order it runs: {"key", "config", "slice", "dtype", "what"}."""
  out = []

  def add(config, slice_name, dtype, what):
    out.append({"key": f"{what}|{config}|{slice_name}|{dtype}", "config": config,
                "slice": slice_name, "dtype": dtype, "what": what})

  def paper(slice_names, what):  # every paper config in both dtypes on each slice
    for slice_name in slice_names:
      for config in PAPER:
        for dtype in DTYPES:
          add(config, slice_name, dtype, what)

  first, second = ("v5litepod-4", "v5p-8"), ("v4-8", "v6e-4")
  paper(first, "batch40")
  add("configs/paper_500k.py", "v5litepod-256", "bfloat16", "pod")
  paper(second, "batch40")
  paper(first, "largest")
  for slice_name in first + second:
    for config in BASELINES:
      add(config, slice_name, "float32", "baseline")
  paper(second, "largest")
  add("configs/paper_500k.py", "v5litepod-256", "float32", "pod")
  # The paper's own machine and today's: 4 GPUs in one host (needs the cuda extra).
  paper(("a100-40gbx4", "a100-80gbx4", "h100x4"), "gpu")
  return out


def _config(task: dict):
  c = load_config_file(task["config"])
  if "dtype" in c.model or task["dtype"] != "float32":  # SaShiMi's has no dtype field
    c.model.dtype = task["dtype"]
  return c


def run_task(task: dict, done: dict, say: Callable[[str], None]) -> dict:
  """One row of the sweep (a plan, or a largest-batch search)."""
  slice_ = slices.resolve(task["slice"])
  config = _config(task)
  if task["what"] in ("batch40", "baseline", "gpu"):
    return report.plan(config, slice_, config_name=task["config"], round_batch=True,
                       search=False, say=say)
  if task["what"] == "largest":
    first = done.get(task["key"].replace("largest|", "batch40|"), {})
    planner = report.Planner(config, slice_, say)
    per_chip = first.get("batch_per_chip", config.batch_size // slice_.chips)
    if "memory" in first:  # the batch-40 row's compile, not repeated
      planner.compiles[(slice_.topology, per_chip, ())] = report.from_summary(
          first["memory"])
    # An unfinished search resumes from its compiles.
    for name, summary in done.get(task["key"], {}).get("compiles", {}).items():
      planner.compiles[(slice_.topology, _batch_of(name), ())] = (
          report.from_summary(summary))
    best, confirmed = planner.largest_batch(per_chip, planner.compile(per_chip),
                                            max_compiles=6)
    row = {"config": task["config"], "slice": slice_.rental_name,
           "chip": slice_.chip.kind, "chips": slice_.chips, "dtype": task["dtype"],
           "largest_batch_per_chip": best, "confirmed": confirmed,
           "compiles": {f"{k[1]}/chip": report.step_summary(v)
                        for k, v in planner.compiles.items()}}
    return row
  # pod: the largest per-chip batch found on 4 chips of that kind (else 1), on 256.
  small = done.get(f"largest|{task['config']}|v5litepod-4|{task['dtype']}", {})
  per_chip = max(1, small.get("largest_batch_per_chip") or 1)
  config.batch_size = per_chip * slice_.chips
  return report.plan(config, slice_, config_name=task["config"], search=False,
                     say=say)


def _batch_of(name: str) -> int:
  """The batch per chip of a search row's compile, named "N/chip"."""
  return int(name.split("/")[0])


MAX_SEARCH_COMPILES = 12


def _unfinished(row: dict | None) -> bool:
  """Whether the sweep still owes a row: missing, or a largest-batch search that
  neither confirmed its boundary nor spent MAX_SEARCH_COMPILES compiles on it."""
  if row is None:
    return True
  return (row.get("what") == "largest" and "error" not in row
          and row.get("largest_batch_per_chip") is not None
          and not row.get("confirmed")
          and len(row.get("compiles", {})) < MAX_SEARCH_COMPILES)


def _merge(out: str, key: str, row: dict) -> dict:
  """Writes `row` into `out` as it is on disk now: two sweeps (the TPU rows and,
  in an environment with the cuda extra, the GPU rows) may share one file."""
  results = {"rows": {}}
  if os.path.isfile(out):
    with open(out, encoding="utf-8") as f:
      results = json.load(f)
  results["rows"][key] = row
  strict_json.write(out, results, indent=1)
  return results


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
    if (not _unfinished(results["rows"].get(task["key"]))
        or (kinds and task["what"] not in kinds)):
      continue
    if task["what"] == "gpu" and not gpus.installed():
      say(f"skipping {task['key']}: {gpus.INSTALL} first")
      continue
    say(f"== {task['key']}")
    try:
      row = run_task(task, results["rows"], say)
    except (ValueError, report.BatchSplitError, jax.errors.JaxRuntimeError) as e:
      # A config the trainer refuses, or a compiler that fails on the program (not
      # an out-of-memory: that is a row with fits=False): its first line is the row.
      row = {"config": task["config"], "slice": task["slice"], "dtype": task["dtype"],
             "error": str(e).strip().splitlines()[0]}
    row["what"] = task["what"]
    results = _merge(out, task["key"], row)
    log({"key": task["key"], **{k: row.get(k) for k in ("fits", "memory",
                                                        "largest_batch_per_chip")}})
  return results


# ---- Tables -------------------------------------------------------------------------

BEGIN, END = "<!-- aot:begin -->", "<!-- aot:end -->"
COMMAND = ("python -m audiolm_jax.bench --suites aot --aot_out "
           "benchmarks/aot_tpu.json")


def _short(config: str) -> str:
  return os.path.splitext(os.path.basename(config))[0]


def _fit_cell(row: dict) -> str:
  m = row.get("memory", {})
  if row.get("fits"):
    return f"yes, {m['total_gib']:.1f} of {row['hbm_capacity_gib']:g} GiB"
  error = m.get("error", row.get("error", ""))
  if "accepted by the compiler" in error:
    return f"no: buffers {m['total_gib']:.1f} GiB > {row['hbm_capacity_gib']:g} GiB"
  found = re.search(r"temporaries \(([\d.]+G)\)", error) or re.search(
      r"[Uu]sed ([\d.]+G)", error)
  return f"no: needs {found.group(1)}iB" if found else "no"


def _plan_rows(rows: list[dict]) -> list[str]:
  out = ["| config | slice | dtype | batch/chip | fits (HBM per chip) | TFLOP/step/chip "
         "| compute ms | HBM ms | all-reduce MiB, ms (ICI) | budget h | compile s |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    if "error" in r and "memory" not in r:
      # A config refused before compiling, or a compiler that failed on the program.
      failed = r["error"].startswith("INTERNAL:")
      what = (f"the compiler failed: {r['error'][len('INTERNAL:'):].split(':')[0].strip()}"
              if failed else f"refused: {r['error'][:80]}")
      out.append(f"| {_short(r['config'])} | {r['slice']} | {r['dtype']} | | "
                 f"{what} | | | | | | |")
      continue
    f, roof = r.get("flops", {}), r.get("roofline", {})
    reduce = [c for c in r.get("collectives", []) if c["kind"] == "all-reduce"]
    ici = roof.get("allreduce_ici_s")
    comm = (f"{reduce[0]['bytes'] / 2**20:.1f}, "
            + (f"{ici * 1e3:.2f}" if ici is not None else "n/a")) if reduce else ""
    out.append(
        f"| {_short(r['config'])} | {r['slice']} | {r['dtype']} | {r['batch_per_chip']} "
        f"| {_fit_cell(r)} | {f.get('per_chip_per_step', 0) / 1e12:.2f} "
        f"| {roof.get('compute_s', 0) * 1e3:.0f} | {roof.get('hbm_s', 0) * 1e3:.0f} "
        f"| {comm} | {roof.get('budget_hours', 0):.0f} | {r['memory']['compile_s']:.0f} |")
  return out


def markdown(results: dict) -> str:
  """The sweep's rows as tables (what is not compiled yet is listed, not guessed)."""
  rows = results.get("rows", {})
  by_kind = {}
  for key, row in rows.items():
    by_kind.setdefault(key.split("|")[0], []).append(row)
  lines = [f"Reproduce: `{COMMAND}` (resumes; rows land as they compile). Compiled, "
           f"not run: every time is a projection from the chip's published figures. "
           f"compute: FLOPs / bf16 peak; HBM: the CPU compile's bytes accessed / HBM "
           f"bandwidth (an upper bound: XLA's CPU backend fuses less than its TPU one); "
           f"budget: the config's steps at the larger of the two.", ""]
  if by_kind.get("batch40"):
    lines += ["**The paper's configs at its batch of 40 on 4 chips.**", ""]
    lines += _plan_rows(by_kind["batch40"]) + [""]
  if by_kind.get("pod"):
    lines += ["**Data-parallel on a pod slice.**", ""]
    lines += _plan_rows(by_kind["pod"]) + [""]
  if by_kind.get("largest"):
    lines += ["**The largest batch per chip that fits** (compiled; \"confirmed\": the "
              "next batch up was refused; otherwise the search stopped between the "
              "largest batch that fit and the smallest refused. The compiler lays out "
              "each batch anew, so memory is not monotone in the batch and a bigger "
              "one may still fit: [scaling](scaling.md#compiled-for-tpu-slices)).", "",
              "| config | slice | dtype | largest batch/chip | GiB per chip there "
              "| smallest refused | compiles |", "|---|---|---|---|---|---|---|"]
    for r in by_kind["largest"]:
      best = r.get("largest_batch_per_chip")
      compiles = r.get("compiles", {})
      at = compiles.get(f"{best}/chip", {})
      refused = sorted(_batch_of(k) for k, c in compiles.items()
                       if not c["fits"] and _batch_of(k) > (best or 0))
      lines.append(
          f"| {_short(r['config'])} | {r['slice']} | {r['dtype']} | "
          + (f"{best}{' (confirmed)' if r.get('confirmed') else ''}" if best
             else "none (1 does not fit)")
          + f" | {at.get('total_gib', 0):.1f} | {refused[0] if refused else ''} "
          f"| {len(compiles)} |")
    lines.append("")
  if by_kind.get("gpu"):
    lines += ["**4 GPUs in one host at the paper's batch of 40** (XLA's GPU compiler; "
              "the paper trained on 4 A100s).", ""]
    lines += _plan_rows(by_kind["gpu"]) + [""]
  if by_kind.get("baseline"):
    lines += ["**The baselines on 4 chips** (their own batch, rounded to the chips).",
              ""]
    lines += _plan_rows(by_kind["baseline"]) + [""]
  missing = [t["key"] for t in tasks() if t["key"] not in rows]
  if missing:
    rows_word = "row" if len(missing) == 1 else "rows"
    lines += [f"Not compiled yet ({len(missing)} {rows_word} of the sweep): "
              + ", ".join(f"`{k}`" for k in missing[:40])
              + (" ..." if len(missing) > 40 else ""), ""]
  return "\n".join(lines)
