"""`python -m audiolm_jax.bench`: run benchmark suites, write JSON and markdown.

    python -m audiolm_jax.bench [--suites per_target,training,generation,memory,torch]
        [--out benchmarks/results.json] [--dataset_dir DIR  (adds the pipeline suite)]

Suites (each records date, device and versions beside its numbers):
  per_target  chunked vs dense ms and GFLOP per target, fwd and fwd+bwd, at every
              --contexts, dense with every --num_targets
  training    train steps of --train_configs: targets/s, audio s/s, MFU against the
              measured matmul rate (bf16 on accelerators, float32 on the CPU)
  generation  cached vs naive samples/s and real-time factor, --generation_batches
  memory      compiled train-step memory vs context, with/without remat, largest batch
  torch       PyTorch reference (eager, torch.compile) vs JAX chunked and dense
  pipeline    Grain windows/s from a built dataset (needs --dataset_dir)
  sampled_cost  the `sampled` protocol's cost per scored target: the chunked path
              it runs against the dense path with one target per window, at the
              paper's three contexts (compiled FLOPs and memory, then seconds)
  codec       the codec with a trained run (--codec_workdir): 8-bit codes by the
              model, linear prediction and their mix against FLAC, xz, zstd and
              gzip; 16-bit PCM against FLAC, WavPack, TTA, ALAC and xz
  aot         every training config compiled for TPU slices by libtpu's compiler on
              this CPU (the tpu extra): fits, HBM per chip, largest batch, roofline;
              rows land in --aot_out as they compile, and a rerun resumes
Results merge into --out (a suite run again replaces its entry); the markdown tables
of everything in it go to the same name with .md. `python -m audiolm_jax.tables
--results FILE --doc docs/performance.md` writes them into the performance page.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shlex
import sys
import types
from typing import Callable

from absl import flags

from audiolm_jax import cli, models, strict_json
from audiolm_jax.bench import environment, report



# Each suite once, with the flags it reads (its reproducing command names only
# these; a flag shared by several suites is one `Flag` object). Suites import only
# what they need.
# pylint: disable=import-outside-toplevel


@dataclasses.dataclass(frozen=True)
class Flag:
  name: str
  kind: str      # "string", "integer", "float" or "ints" (comma-separated integers)
  default: object
  help: str


PRESET = Flag("preset", "string", "paper_128k", "model preset whose context "
              "--contexts replaces")
CONTEXTS = Flag("contexts", "ints", "128000,500000,1000000", "contexts of the "
                "per_target and memory suites")
BUDGET_S = Flag("budget_s", "float", 30.0, "seconds of repeats per timed row (at least "
                "one repeat)")
MAX_REPEATS = Flag("max_repeats", "integer", 5, "repeats per timed row")
REMAT_BLOCK = Flag("remat_block", "integer", 128, "targets per Transformer block where "
                   "remat is on (memory suite; per_target rows too big for the device)")


def _per_target(args, limit):
  from audiolm_jax.bench import per_target
  return per_target.run(preset=args.preset, contexts=args.contexts,
                        num_targets=args.num_targets, chunked_batch=args.chunked_batch,
                        memory_limit=limit, budget_s=args.budget_s,
                        max_repeats=args.max_repeats, remat_block=args.remat_block,
                        log=_log)


def _training(args, limit):
  from audiolm_jax.bench import matmul, training
  rate = matmul.rate()
  _log({"matmul": rate})
  return training.run(config_paths=args.train_configs.split(","),
                      batch_size=args.train_batch or None, steps=args.train_steps,
                      matmul=rate, memory_limit=limit, dtype=args.train_dtype or None,
                      log=_log)


def _generation(args, limit):
  del limit
  from audiolm_jax.bench import generation
  return generation.run(preset=args.preset, batches=args.generation_batches,
                        families=tuple(args.generation_models.split(",")),
                        block=args.generation_block, blocks=args.generation_blocks,
                        naive_steps=args.naive_steps, log=_log)


def _memory(args, limit):
  from audiolm_jax.bench import memory
  return memory.run(preset=args.preset, contexts=args.contexts, memory_limit=limit,
                    remat_block=args.remat_block,
                    find_largest_batch=bool(args.largest_batch), log=_log)


def _torch(args, limit):
  del limit
  from audiolm_jax.bench import torch_compare
  return torch_compare.run(preset=args.preset, batch=args.torch_batch,
                           num_targets=args.torch_num_targets,
                           max_repeats=args.max_repeats, budget_s=args.budget_s,
                           log=_log)


DEFAULT_CONFIG = "configs/default.py"  # its step is the pipeline suite's demand


def _pipeline(args, limit):
  from audiolm_jax.bench import matmul, pipeline, training
  step_seconds = args.pipeline_step_seconds
  if not step_seconds:  # the demand: configs/default.py's step, measured here
    step_seconds = training.measure(
        DEFAULT_CONFIG, batch_size=None, steps=5, matmul_tflops=matmul.rate()["tflops"],
        memory_limit=limit, log=_log)["step_s"]
  return pipeline.run(dataset_dir=args.dataset_dir, workers=[0, 2], context=4000,
                      num_targets=512, batch=4, step_seconds=step_seconds,
                      log=_log)


def _codec(args, limit):
  del limit
  from audiolm_jax.bench import codec
  return codec.run(workdir=args.codec_workdir, seconds_per_file=args.codec_seconds,
                   log=_log)


def _sampled_cost(args, limit):
  del limit
  from audiolm_jax.bench import sampled_cost
  return sampled_cost.run(presets=args.sampled_presets.split(","),
                          batch=args.sampled_batch, positions=args.sampled_positions,
                          log=_log)


def _aot(args, limit):
  del limit
  from audiolm_jax.bench import aot
  return aot.run(args.aot_out, only=args.aot_only, log=_log)


@dataclasses.dataclass(frozen=True)
class Suite:
  flags: tuple[Flag, ...]                                  # the flags it reads
  run: Callable[[types.SimpleNamespace, int | None], dict]  # (flags, memory limit)
  own_file: bool = False  # writes its own resumable file (--aot_out), not --out


REGISTRY = {
    "per_target": Suite((
        PRESET, CONTEXTS,
        Flag("num_targets", "ints", "1024,16384", "dense path: targets per row (K)"),
        Flag("chunked_batch", "integer", 2, "contexts per chunked call"),
        BUDGET_S, MAX_REPEATS, REMAT_BLOCK), _per_target),
    "training": Suite((
        Flag("train_configs", "string",
             "configs/paper_128k.py,configs/paper_500k.py,configs/million.py",
             "config files (FILE[:ARG]) for the training suite"),
        Flag("train_batch", "integer", 0, "global batch for the training suite (0: "
             "each config's own)"),
        Flag("train_dtype", "string", "", "compute dtype override for training (e.g. "
             "bfloat16 on GPUs)"),
        Flag("train_steps", "integer", 3, "timed steps per config")), _training),
    "generation": Suite((
        PRESET,
        Flag("generation_models", "string", models.DEFAULT_FAMILY,
             "model families of the generation suite (comma-separated; others at "
             "their config's defaults)"),
        Flag("generation_batches", "ints", "1,64", "streams per generation row"),
        Flag("generation_block", "integer", 500, "samples per jitted block"),
        Flag("generation_blocks", "integer", 2, "timed blocks"),
        Flag("naive_steps", "integer", 2, "timed naive steps")), _generation),
    "memory": Suite((
        PRESET, CONTEXTS, REMAT_BLOCK,
        Flag("largest_batch", "integer", 1, "memory suite: search the largest batch "
             "that fits (0: skip)")), _memory),
    "torch": Suite((
        PRESET,
        Flag("torch_batch", "integer", 4, "contexts per PyTorch call"),
        Flag("torch_num_targets", "integer", 1024, "dense K in the torch suite"),
        BUDGET_S, MAX_REPEATS), _torch),
    "pipeline": Suite((
        Flag("dataset_dir", "string", "", "a built dataset folder, e.g. the one make "
             "demo builds (.../music21_piano/full_mix_.../2.0.0)"),
        Flag("pipeline_step_seconds", "float", 0.0, "the train step time (4 windows) "
             "the pipeline must feed; 0: configs/default.py's, measured first on this "
             "machine")), _pipeline),
    "codec": Suite((
        Flag("codec_workdir", "string", "runs/default", "codec suite: the trained run "
             "whose model codes (make demo trains runs/default)"),
        Flag("codec_seconds", "float", 2.0, "codec suite: seconds from the start of "
             "each file (as make demo's evaluation)")), _codec),
    "sampled_cost": Suite((
        Flag("sampled_presets", "string", "paper_128k,paper_500k,million",
             "sampled_cost suite: model presets (comma-separated)"),
        Flag("sampled_batch", "integer", 4, "sampled_cost suite: targets per call "
             "(evaluate's --batch)"),
        Flag("sampled_positions", "integer", 8, "sampled_cost suite: targets scored per "
             "preset (0: compile only)")), _sampled_cost),
    "aot": Suite((
        Flag("aot_out", "string", "benchmarks/aot_tpu.json", "aot suite: its rows "
             "(JSON, resumed)"),
        Flag("aot_only", "string", "", "aot suite: only these row kinds (batch40, pod, "
             "largest, baseline, gpu; comma-separated)")), _aot, own_file=True),
}
# pylint: enable=import-outside-toplevel
SUITES = tuple(REGISTRY)
DEFAULT_SUITES = "per_target,training,generation,memory,torch"


def _ints(text: str) -> list[int]:
  return [int(x.replace("_", "")) for x in text.split(",") if x]


def _unknown_suites(text: str) -> list[str]:
  return sorted(set(s for s in text.split(",") if s) - set(SUITES))


def _define(flag_values: flags.FlagValues) -> tuple[str, ...]:
  """Defines --suites, --out and every suite's flags (each once) in `flag_values`;
  returns the names of the integer-list flags."""
  flags.DEFINE_string("suites", DEFAULT_SUITES, f"comma-separated, of {SUITES}",
                      flag_values=flag_values)
  flags.register_validator("suites", lambda text: not _unknown_suites(text),
                           message=f"unknown suite(s) in --suites; use {SUITES}",
                           flag_values=flag_values)
  flags.DEFINE_string("out", "bench_results/results.json", "results JSON (merged "
                      "into)", flag_values=flag_values)
  seen, int_lists = {}, []
  for suite in REGISTRY.values():
    for f in suite.flags:
      if f.name in seen:
        assert seen[f.name] is f, f"--{f.name} is defined twice, differently"
        continue
      seen[f.name] = f
      if f.kind == "ints":
        int_lists.append(f.name)
        flags.DEFINE_string(f.name, f.default, f.help + " (comma-separated integers)",
                            flag_values=flag_values)
        flags.register_validator(
            f.name, lambda text: all(x.replace("_", "").isdigit()
                                     for x in text.split(",") if x),
            message=f"--{f.name}: expected comma-separated integers",
            flag_values=flag_values)
      else:
        getattr(flags, f"DEFINE_{f.kind}")(f.name, f.default, f.help,
                                           flag_values=flag_values)
  return tuple(int_lists)


FLAGS = flags.FlagValues()
_INT_LISTS = _define(FLAGS)


def _args() -> types.SimpleNamespace:
  """The parsed flags as attributes, integer lists converted."""
  values = {name: FLAGS[name].value for name in FLAGS}
  values.update({name: _ints(values[name]) for name in _INT_LISTS})
  values["suites"] = [s for s in values["suites"].split(",") if s]
  return types.SimpleNamespace(**values)


def _log(row) -> None:
  print(json.dumps(row, default=str), flush=True)


def _shell_word(value: str) -> str:
  """`value` quoted for a shell, a path under this user's home as ~/... (the ~
  outside the quotes, where the shell expands it)."""
  path = environment.portable_path(value)
  if path.startswith("~/"):
    return "~/" + shlex.quote(path[2:])
  return shlex.quote(path)


def _command(argv: list[str], suite: str) -> str:
  """The command line that reruns just `suite` with the same settings."""
  words = ["python -m audiolm_jax.bench", f"--suites {suite}"]
  i = 0
  while i < len(argv):
    flag, eq, value = argv[i].partition("=")
    if not eq and i + 1 < len(argv):
      value, i = argv[i + 1], i + 1
    if flag in {f"--{f.name}" for f in REGISTRY[suite].flags}:
      words.append(f"{flag} {_shell_word(value)}")
    i += 1
  return " ".join(words)


def _usage_error(message: str) -> int:
  print(f"error: {message}", file=sys.stderr)
  return cli.EXIT_USAGE


def main(argv: list[str] | None = None) -> dict | int:
  """Runs the suites; returns the merged results, or an exit status (`cli.py`) when
  nothing ran or only the resumable suites did."""
  argv = sys.argv[1:] if argv is None else argv
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.bench", __doc__)) is not None:
    return code
  args = _args()
  suites = list(args.suites)
  if args.dataset_dir and "pipeline" not in suites:
    suites.append("pipeline")
  if "pipeline" in suites and not os.path.isdir(args.dataset_dir):
    return _usage_error(f"the pipeline suite needs --dataset_dir, a built split "
                        f"folder; got {args.dataset_dir!r} (build one with python -m "
                        f"audiolm_jax.data.build)")
  if "torch" in suites and importlib.util.find_spec("torch") is None:
    message = ('the torch suite needs PyTorch: pip install -e ".[bench]" (or leave '
               'torch out of --suites)')
    if any(a.startswith("--suites") for a in argv):
      return _usage_error(message)
    print(f"skipping the torch suite: {message}", flush=True)
    suites.remove("torch")
  for name in [n for n in suites if REGISTRY[n].own_file]:  # resumable, row by row
    suites.remove(name)
    REGISTRY[name].run(args, None)
  if not suites:
    return cli.EXIT_OK
  results = {}
  if os.path.isfile(args.out):
    with open(args.out) as f:
      try:
        results = json.load(f)
      except json.JSONDecodeError as e:
        return _usage_error(f"--out {args.out} exists but is not a results file ({e}); "
                            f"move it away or choose another --out")
  env = environment.environment()
  os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
  for name in suites:
    print(f"== {name} on {env['device']}", flush=True)
    suite = REGISTRY[name].run(args, environment.memory_limit_bytes())
    extra = ({"torch": suite["torch_version"]} if name == "torch" else {})
    results[name] = {**environment.environment(**extra),
                     "command": _command(argv, name), **suite}
    # Written after every suite, atomically: a crash keeps the suites already done.
    strict_json.write(args.out, results, indent=1)
    strict_json.write_text(os.path.splitext(args.out)[0] + ".md",
                           report.markdown(results))
  print(report.markdown(results))
  return results


if __name__ == "__main__":
  outcome = main()
  sys.exit(outcome if isinstance(outcome, int) else 0)
