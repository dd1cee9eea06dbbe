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
  codec       the codec with a trained run (--codec_workdir): 8-bit codes by the
              model, linear prediction and their mix against FLAC, xz, zstd and
              gzip; 16-bit PCM against FLAC, WavPack, TTA, ALAC and xz
  aot         every training config compiled for TPU slices by libtpu's compiler on
              this CPU (the tpu extra): fits, HBM per chip, largest batch, roofline;
              rows land in --aot_out as they compile, and a rerun resumes
Results merge into --out (a suite run again replaces its entry); the markdown tables
of everything in it go to the same name with .md. `python -m audiolm_jax.bench.report
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



# Each suite once: the flags it reads (its reproducing command names only these) and
# how it runs. Suites import only what they need.
# pylint: disable=import-outside-toplevel


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


def _aot(args, limit):
  del limit
  from audiolm_jax.bench import aot
  return aot.run(args.aot_out, only=args.aot_only, log=_log)


@dataclasses.dataclass(frozen=True)
class Suite:
  flags: tuple[str, ...]                                   # the flags it reads
  run: Callable[[types.SimpleNamespace, int | None], dict]  # (flags, memory limit)
  own_file: bool = False  # writes its own resumable file (--aot_out), not --out


REGISTRY = {
    "per_target": Suite(("--preset", "--contexts", "--num_targets", "--chunked_batch",
                         "--budget_s", "--max_repeats", "--remat_block"), _per_target),
    "training": Suite(("--train_configs", "--train_batch", "--train_dtype",
                       "--train_steps"), _training),
    "generation": Suite(("--preset", "--generation_models", "--generation_batches",
                         "--generation_block", "--generation_blocks", "--naive_steps"),
                        _generation),
    "memory": Suite(("--preset", "--contexts", "--remat_block", "--largest_batch"),
                    _memory),
    "torch": Suite(("--preset", "--torch_batch", "--torch_num_targets", "--budget_s",
                    "--max_repeats"), _torch),
    "pipeline": Suite(("--dataset_dir", "--pipeline_step_seconds"), _pipeline),
    "codec": Suite(("--codec_workdir", "--codec_seconds"), _codec),
    "aot": Suite(("--aot_out", "--aot_only"), _aot, own_file=True),
}
# pylint: enable=import-outside-toplevel
SUITES = tuple(REGISTRY)


FLAGS = flags.FlagValues()


def _define_ints(name: str, default: str, help_: str) -> None:
  flags.DEFINE_string(name, default, help_ + " (comma-separated integers)",
                      flag_values=FLAGS)
  flags.register_validator(
      name, lambda text: all(x.replace("_", "").isdigit() for x in text.split(",") if x),
      message=f"--{name}: expected comma-separated integers", flag_values=FLAGS)


def _ints(text: str) -> list[int]:
  return [int(x.replace("_", "")) for x in text.split(",") if x]


def _unknown_suites(text: str) -> list[str]:
  return sorted(set(s for s in text.split(",") if s) - set(SUITES))


flags.DEFINE_string("suites", "per_target,training,generation,memory,torch",
                    f"comma-separated, of {SUITES}", flag_values=FLAGS)
flags.register_validator("suites", lambda text: not _unknown_suites(text),
                         message=f"unknown suite(s) in --suites; use {SUITES}",
                         flag_values=FLAGS)
flags.DEFINE_string("out", "bench_results/results.json", "results JSON (merged into)",
                    flag_values=FLAGS)
flags.DEFINE_string("preset", "paper_128k", "model preset whose context --contexts "
                    "replaces", flag_values=FLAGS)
_define_ints("contexts", "128000,500000,1000000", "contexts of the per_target and "
             "memory suites")
_define_ints("num_targets", "1024,16384", "dense path: targets per row (K)")
flags.DEFINE_integer("chunked_batch", 2, "contexts per chunked call", flag_values=FLAGS)
flags.DEFINE_float("budget_s", 30.0, "seconds of repeats per timed row (at least one "
                   "repeat)", flag_values=FLAGS)
flags.DEFINE_integer("max_repeats", 5, "repeats per timed row", flag_values=FLAGS)
flags.DEFINE_string("train_configs",
                    "configs/paper_128k.py,configs/paper_500k.py,configs/million.py",
                    "config files (FILE[:ARG]) for the training suite", flag_values=FLAGS)
flags.DEFINE_integer("train_batch", 0, "global batch for the training suite (0: each "
                     "config's own)", flag_values=FLAGS)
flags.DEFINE_string("train_dtype", "", "compute dtype override for training (e.g. "
                    "bfloat16 on GPUs)", flag_values=FLAGS)
flags.DEFINE_integer("train_steps", 3, "timed steps per config", flag_values=FLAGS)
_define_ints("generation_batches", "1,64", "streams per generation row")
flags.DEFINE_string("generation_models", models.DEFAULT_FAMILY,
                    "model families of the generation suite (comma-separated; "
                    "others at their config's defaults)", flag_values=FLAGS)
flags.DEFINE_integer("generation_block", 500, "samples per jitted block",
                     flag_values=FLAGS)
flags.DEFINE_integer("generation_blocks", 2, "timed blocks", flag_values=FLAGS)
flags.DEFINE_integer("naive_steps", 2, "timed naive steps", flag_values=FLAGS)
flags.DEFINE_integer("remat_block", 128, "targets per Transformer block where remat "
                     "is on (memory suite; per_target rows too big for the device)",
                     flag_values=FLAGS)
flags.DEFINE_integer("largest_batch", 1, "memory suite: search the largest batch that "
                     "fits (0: skip)", flag_values=FLAGS)
flags.DEFINE_integer("torch_batch", 4, "contexts per PyTorch call", flag_values=FLAGS)
flags.DEFINE_integer("torch_num_targets", 1024, "dense K in the torch suite",
                     flag_values=FLAGS)
flags.DEFINE_string("dataset_dir", "", "a built dataset folder, e.g. the one make "
                    "demo builds (.../music21_piano/full_mix_.../2.0.0)",
                    flag_values=FLAGS)
flags.DEFINE_float("pipeline_step_seconds", 0.0, "the train step time (4 windows) "
                   "the pipeline must feed; 0: configs/default.py's, measured first "
                   "on this machine", flag_values=FLAGS)
flags.DEFINE_string("codec_workdir", "runs/default", "codec suite: the trained run "
                    "whose model codes (make demo trains runs/default)",
                    flag_values=FLAGS)
flags.DEFINE_float("codec_seconds", 2.0, "codec suite: seconds from the start of each "
                   "file (as make demo's evaluation)", flag_values=FLAGS)
flags.DEFINE_string("aot_out", "benchmarks/aot_tpu.json", "aot suite: its rows "
                    "(JSON, resumed)", flag_values=FLAGS)
flags.DEFINE_string("aot_only", "", "aot suite: only these row kinds (batch40, pod, "
                    "largest, baseline; comma-separated)", flag_values=FLAGS)
_INT_LISTS = ("contexts", "num_targets", "generation_batches")


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
    if flag in REGISTRY[suite].flags:
      words.append(f"{flag} {_shell_word(value)}")
    i += 1
  return " ".join(words)


def main(argv: list[str] | None = None) -> dict | int:
  """Runs the suites; returns the merged results (or an exit code on bad flags)."""
  argv = sys.argv[1:] if argv is None else argv
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.bench", __doc__)) is not None:
    return code
  args = _args()
  suites = list(args.suites)
  if args.dataset_dir and "pipeline" not in suites:
    suites.append("pipeline")
  if "pipeline" in suites and not os.path.isdir(args.dataset_dir):
    raise SystemExit(f"the pipeline suite needs --dataset_dir, a built split folder; "
                     f"got {args.dataset_dir!r} (build one with python -m "
                     f"audiolm_jax.data.build)")
  if "torch" in suites and importlib.util.find_spec("torch") is None:
    message = ('the torch suite needs PyTorch: pip install -e ".[bench]" (or leave '
               'torch out of --suites)')
    if any(a.startswith("--suites") for a in argv):
      raise SystemExit(message)
    print(f"skipping the torch suite: {message}", flush=True)
    suites.remove("torch")
  for name in [n for n in suites if REGISTRY[n].own_file]:  # resumable, row by row
    suites.remove(name)
    REGISTRY[name].run(args, None)
  if not suites:
    return 0
  results = {}
  if os.path.isfile(args.out):
    with open(args.out) as f:
      try:
        results = json.load(f)
      except json.JSONDecodeError as e:
        raise SystemExit(f"--out {args.out} exists but is not a results file ({e}); "
                         f"move it away or choose another --out") from e
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
