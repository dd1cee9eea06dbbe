"""What a user planning a run needs from compiles: fits, memory, FLOPs, time, fixes.

`plan(config, slice_)` compiles train.py's step for the slice at the config's global
batch and, where it does not fit, finds by compiling what would: the least remat
that fits, the largest batch per chip, the smallest slice of that kind. Every time
in it is a roofline projection from the chip's published peak (compiled, not run).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Callable

import ml_collections

from audiolm_jax.aot import compile as aot
from audiolm_jax.aot import gpus
from audiolm_jax.aot.slices import Slice

GIB = 2**30
LABEL = "compiled for the slice, not run on it: times are roofline projections"


class BatchSplitError(ValueError):
  """The global batch does not divide over the slice's chips."""


def split_batch(batch_size: int, chips: int, round_batch: bool) -> tuple[int, str]:
  """(global batch to compile, a note): the config's batch where it divides over
  `chips`, else with `round_batch` chips x the nearest per-chip batch (at least 1);
  else BatchSplitError naming the nearest batches that divide."""
  if batch_size % chips == 0:
    return batch_size, ""
  per_chip = max(1, round(batch_size / chips))
  if round_batch:
    return chips * per_chip, (f"batch_size {batch_size} does not divide over {chips} "
                              f"chips: rounded to {chips * per_chip} ({per_chip} per "
                              f"chip)")
  lower = batch_size // chips * chips
  options = [b for b in (lower, lower + chips) if b > 0]
  raise BatchSplitError(
      f"batch_size={batch_size} does not divide over the slice's {chips} chips; use "
      f"{' or '.join(f'--config.batch_size={b}' for b in options)}, or "
      f"--round_batch to compile {chips * per_chip} ({per_chip} per chip)")


def capacity_bytes(slice_: Slice) -> float:
  """A chip's memory: a GPU's usable bytes as it reports them, a TPU's published HBM."""
  if slice_.chip.platform == "cuda":
    return float(gpus.usable_bytes(slice_.chip.kind))
  return slice_.chip.hbm_gib * GIB


def _capacity_from(error: str) -> float | None:
  """The HBM the compiler said it had, in bytes, from its refusal ("of 15.75G")."""
  m = re.search(r"(?:[Uu]sed [\d.]+[GM] of|available HBM \()\s*([\d.]+)([GM])", error)
  if not m:
    return None
  return float(m.group(1)) * (GIB if m.group(2) == "G" else 2**20)


def remat_ladder(model: ml_collections.ConfigDict) -> list[dict]:
  """Remat settings with more recomputation than `model`'s, least first (none for a
  family without remat fields)."""
  if "remat_block" not in model:
    return []
  steps = [(False, 128), (False, 32), (True, 128), (True, 32), (True, 8)]
  has_encoder = "remat_encoder" in model
  now_encoder = bool(model.get("remat_encoder", False))
  now_block = model.remat_block or math.inf

  def more(enc: bool, block: int) -> bool:
    return (enc >= now_encoder and block <= now_block
            and (enc, block) != (now_encoder, model.remat_block))

  out = []
  for enc, block in steps:
    if (enc and not has_encoder) or not more(enc, block):
      continue
    out.append({"remat_block": block, **({"remat_encoder": enc} if has_encoder else {})})
  return out


@dataclasses.dataclass
class Planner:
  """Compiles for one slice, remembering each compile (by batch and model changes)."""
  config: ml_collections.ConfigDict
  slice_: Slice
  say: Callable[[str], None] = print
  compiles: dict = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    self.mesh = aot.slice_mesh(self.slice_)

  def compile(self, per_chip: int, slice_: Slice | None = None, **changes
              ) -> aot.StepCompile:
    slice_ = slice_ or self.slice_
    key = (slice_.topology, per_chip, tuple(sorted(changes.items())))
    if key not in self.compiles:
      what = ", ".join([f"{per_chip}/chip on {slice_.rental_name}"]
                       + [f"{k}={v}" for k, v in changes.items()])
      self.say(f"compiling ({what}) ...")
      config = aot.with_batch(self.config, per_chip * slice_.chips, **changes)
      mesh = self.mesh if slice_ == self.slice_ else None
      result = aot.compile_for_slice(config, slice_, mesh)
      capacity = capacity_bytes(slice_)
      if result.fits and result.total_bytes > capacity:
        # Seen for remat loops on v5e: accepted, yet its buffers exceed the HBM.
        # Counted as not fitting: nothing promises the program would run.
        result = dataclasses.replace(
            result, fits=False,
            error=f"accepted by the compiler, but its buffers ({result.total_bytes / GIB:.2f} "
                  f"GiB per chip) exceed the chip's {capacity / GIB:.2f} GiB")
      self.say(f"  {'fits' if result.fits else 'does not fit'}: "
               + (f"{result.total_bytes / GIB:.2f} GiB per chip"
                  if result.fits else result.error)
               + f" ({result.seconds:.0f} s)")
      self.compiles[key] = result
    return self.compiles[key]

  def largest_batch(self, known: int, known_result: aot.StepCompile,
                    max_compiles: int = 4, **changes) -> tuple[int | None, bool]:
    """(the largest batch per chip found to fit, whether the next one was refused).

    Starts from every batch already compiled with `changes` (`known` among them).
    Memory is nearly affine in the batch: the two largest batches that fit predict
    the largest, and the batch after a predicted boundary checks it. Where that
    check fits anyway, the line reaches a batch already refused, or its slope is not
    positive (the compiler lays out some batches differently, so memory can jump,
    or even fall, as the batch grows), it bisects between the largest batch that
    fit and the smallest refused (a refusal costs seconds, a fit a full compile).
    At most `max_compiles` compiles beyond the first two that fit.
    """
    key = tuple(sorted(changes.items()))
    results = {b: r for (top, b, ch), r in self.compiles.items()
               if top == self.slice_.topology and ch == key}
    results[known] = known_result
    capacity = capacity_bytes(self.slice_)

    def note(b):
      nonlocal capacity
      if not results[b].fits:
        capacity = min(capacity, _capacity_from(results[b].error) or capacity)

    for b in results:
      note(b)
    b = min(results)
    while not any(r.fits for r in results.values()):  # halve until something fits
      if b == 1:
        return None, True
      b //= 2
      results[b] = self.compile(b, **changes)
      note(b)
    if sum(r.fits for r in results.values()) < 2:  # a second point: up first (a
      lo = max(k for k, r in results.items() if r.fits)  # refusal is cheap)
      for other in (2 * lo, lo // 2):
        if other >= 1 and other not in results:
          results[other] = self.compile(other, **changes)
          note(other)
          if sum(r.fits for r in results.values()) >= 2:
            break
    for spent in range(max_compiles + 1):
      fits = sorted(k for k, r in results.items() if r.fits)
      lo = fits[-1]
      above = [k for k, r in results.items() if not r.fits and k > lo]
      hi = min(above) if above else None
      if (hi is not None and hi - lo <= 1) or spent == max_compiles:
        break
      guess = None
      if len(fits) >= 2:
        b1, b2 = fits[-2], fits[-1]
        slope = (results[b2].total_bytes - results[b1].total_bytes) / (b2 - b1)
        if slope > 0:
          guess = b2 + int((capacity - results[b2].total_bytes) // slope)
          if guess <= lo and lo + 1 not in results:
            guess = lo + 1  # the line says lo is the boundary: check the next one
      if guess is None or guess <= lo or (hi is not None and guess >= hi):
        guess = (lo + hi) // 2 if hi is not None else 2 * lo
      guess = max(guess, lo + 1)
      if hi is not None:
        guess = min(guess, hi - 1)
      results[guess] = self.compile(guess, **changes)
      note(guess)
    fits = sorted(k for k, r in results.items() if r.fits)
    lo = fits[-1]
    return lo, (lo + 1) in results and not results[lo + 1].fits


def step_summary(result: aot.StepCompile) -> dict:
  """A compile's per-chip memory in GiB and bytes (and its compile time)."""
  return {"fits": result.fits,
          "bytes": {k: getattr(result, f"{k}_bytes")
                    for k in ("argument", "output", "alias", "temp")},
          "arguments_gib": result.argument_bytes / GIB,
          "outputs_gib": result.output_bytes / GIB,
          "temporaries_gib": result.temp_bytes / GIB,
          "aliased_gib": result.alias_bytes / GIB,
          "total_gib": result.total_bytes / GIB,
          "compile_s": result.seconds,
          **({"error": result.error} if result.error else {})}


def from_summary(summary: dict) -> aot.StepCompile:
  """The StepCompile a `step_summary` was made from (collectives and costs aside)."""
  return aot.StepCompile(summary["fits"], summary["compile_s"],
                         summary.get("error", ""),
                         **{f"{k}_bytes": v for k, v in summary["bytes"].items()})


def roofline(slice_: Slice, flops: float, hbm_bytes: float, allreduce_bytes: float,
             num_steps: int) -> dict:
  """Per-step time bounds from the chip's published figures, per chip."""
  chip = slice_.chip
  compute_s = flops / (chip.bf16_tflops * 1e12)
  memory_s = hbm_bytes / (chip.hbm_gbps * 1e9)
  n = slice_.chips
  # A ring all-reduce sends and receives 2(n-1)/n of the buffer through each chip.
  ici_s = (2 * (n - 1) / n * allreduce_bytes / (chip.ici_gbps * 1e9)
           if chip.ici_gbps and n > 1 else (0.0 if n == 1 else None))
  step_s = max(compute_s, memory_s)
  return {"compute_s": compute_s, "hbm_s": memory_s, "allreduce_ici_s": ici_s,
          "step_s": step_s, "bound": "compute" if compute_s >= memory_s else "HBM",
          "budget_steps": num_steps, "budget_hours": step_s * num_steps / 3600}


def plan(config: ml_collections.ConfigDict, slice_: Slice, *, config_name: str = "",
         round_batch: bool = False, search: bool = True, flops: bool = True,
         say: Callable[[str], None] = print) -> dict:
  """The report of `config`'s train step compiled for `slice_` (see module doc)."""
  batch, note = split_batch(config.batch_size, slice_.chips, round_batch)
  per_chip = batch // slice_.chips
  planner = Planner(config, slice_, say)
  main = planner.compile(per_chip)
  report = {
      "label": LABEL, "config": config_name, "slice": slice_.rental_name,
      "topology": slice_.topology, "chip": slice_.chip.kind, "chips": slice_.chips,
      "hosts": aot.hosts_of(planner.mesh), "dtype": config.model.get("dtype", ""),
      "model": config.model.get("name", ""),
      "remat": {k: config.model[k] for k in ("remat_encoder", "remat_block")
                if k in config.model},
      "global_batch": batch, "batch_per_chip": per_chip,
      "hbm_capacity_gib": round(capacity_bytes(slice_) / GIB, 2),
      "chip_source": slice_.chip.source,
      **({"batch_note": note} if note else {}),
      "memory": step_summary(main), "fits": main.fits,
  }
  if main.fits:
    report["tpu_cost"] = {"flops": main.flops, "bytes_accessed": main.bytes_accessed}
    report["collectives"] = [dataclasses.asdict(c) for c in main.collectives]
  if flops:
    say("compiling the same step on the CPU, remat off, for its FLOP count ...")
    cpu = aot.compile_on_cpu(config, per_chip)
    allreduce = sum(c.bytes for c in main.collectives if c.kind == "all-reduce")
    report["flops"] = {
        "per_chip_per_step": cpu.flops, "bytes_per_chip_per_step": cpu.bytes_accessed,
        "method": "XLA cost analysis of the step compiled for one CPU device at one "
                  "chip's batch with remat off (the TPU compile counts a remat loop's "
                  "body once)",
        "tpu_over_cpu": (main.flops / cpu.flops if main.fits and main.flops
                         and cpu.flops else None)}
    report["roofline"] = roofline(slice_, cpu.flops, cpu.bytes_accessed, allreduce,
                                  config.num_steps)
  if not main.fits and search:
    report["would_fit"] = _would_fit(planner, per_chip, main)
  report["compiles"] = len(planner.compiles)
  return report


def _would_fit(planner: Planner, per_chip: int, main: aot.StepCompile) -> dict:
  """What fits instead, each found by compiling: remat, batch per chip, slice size."""
  out: dict = {}
  for changes in remat_ladder(planner.config.model):
    if planner.compile(per_chip, **changes).fits:
      out["remat"] = changes
      break
  best, confirmed = planner.largest_batch(per_chip, main, max_compiles=3)
  out["largest_batch_per_chip"] = best
  out["largest_batch_confirmed"] = confirmed
  chips = planner.slice_.chips
  batch = per_chip * chips
  while batch % (chips * 2) == 0 and chips < 256:
    chips *= 2
    bigger = planner.slice_.with_chips(chips)
    if bigger is None:
      continue
    if planner.compile(batch // chips, slice_=bigger).fits:
      out["smallest_slice"] = bigger.rental_name
      break
  return out


def lines(report: dict) -> list[str]:
  """The report as a few lines for a terminal."""
  m = report["memory"]
  out = [f"{report['config'] or 'config'} on {report['slice']} ({report['topology']}, "
         f"{report['chips']} chips, {report['hosts']} host(s)), {report['dtype']}: "
         f"{report['global_batch']} windows = {report['batch_per_chip']} per chip"
         + (f" [{report['batch_note']}]" if "batch_note" in report else "")]
  if report["fits"]:
    out.append(f"FITS: {m['total_gib']:.2f} GiB per chip of "
               f"{report['hbm_capacity_gib']:g} (arguments {m['arguments_gib']:.2f}, "
               f"outputs {m['outputs_gib']:.2f}, temporaries {m['temporaries_gib']:.2f},"
               f" aliased {m['aliased_gib']:.2f}); compiled in {m['compile_s']:.0f} s")
    for c in report.get("collectives", []):
      out.append(f"collectives: {c['count']} {c['kind']} of {c['bytes'] / 2**20:.2f} MiB"
                 f" per step")
  else:
    out.append(f"DOES NOT FIT: {m.get('error', '')}")
  if "roofline" in report:
    r, f = report["roofline"], report["flops"]
    ici = r["allreduce_ici_s"]
    out.append(f"{f['per_chip_per_step'] / 1e12:.2f} TFLOP per chip per step; roofline "
               f"{r['step_s'] * 1e3:.1f} ms per step ({r['bound']}-bound at the "
               f"published bf16 peak), gradient all-reduce "
               + (f"{ici * 1e3:.2f} ms" if ici is not None else "unknown (no published "
                  "ICI bandwidth)")
               + f"; the {r['budget_steps']:,}-step budget: {r['budget_hours']:.1f} h")
  if "would_fit" in report:
    w = report["would_fit"]
    fixes = []
    if "remat" in w:
      fixes.append(" ".join(f"--config.model.{k}={v}" for k, v in w["remat"].items()))
    if w.get("largest_batch_per_chip"):
      b = w["largest_batch_per_chip"]
      fixes.append(f"--config.batch_size={b * report['chips']} ({b} per chip)")
    if "smallest_slice" in w:
      fixes.append(f"--topology {w['smallest_slice']} (same global batch)")
    out.append("would fit: " + ("; or ".join(fixes) if fixes else "nothing tried fits"))
  out.append(f"({report['label']})")
  return out
