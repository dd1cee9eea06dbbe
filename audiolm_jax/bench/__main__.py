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
Results merge into --out (a suite run again replaces its entry); the markdown tables
of everything in it go to the same name with .md. `python -m audiolm_jax.bench.report
--results FILE --readme README.md` writes them into the README.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import sys

from audiolm_jax.bench import environment, report

SUITES = ("per_target", "training", "generation", "memory", "torch", "pipeline")


def _ints(text: str) -> list[int]:
  try:
    return [int(x.replace("_", "")) for x in text.split(",") if x]
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def _suites(text: str) -> list[str]:
  names = [s for s in text.split(",") if s]
  unknown = sorted(set(names) - set(SUITES))
  if unknown:
    raise argparse.ArgumentTypeError(f"unknown suite(s) {unknown}; use {SUITES}")
  return names


def parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m audiolm_jax.bench",
                              description=__doc__.split("\n")[0])
  p.add_argument("--suites", type=_suites,
                 default="per_target,training,generation,memory,torch")
  p.add_argument("--out", default="bench_results/results.json")
  p.add_argument("--preset", default="paper_128k",
                 help="model preset whose context --contexts replaces")
  p.add_argument("--contexts", type=_ints, default="128000,500000,1000000")
  p.add_argument("--num_targets", type=_ints, default="1024,16384",
                 help="dense path: targets per row (K)")
  p.add_argument("--chunked_batch", type=int, default=2)
  p.add_argument("--budget_s", type=float, default=30.0,
                 help="seconds of repeats per timed row (at least one repeat)")
  p.add_argument("--max_repeats", type=int, default=5)
  p.add_argument("--train_configs",
                 default="configs/paper_128k.py,configs/paper_500k.py,configs/million.py")
  p.add_argument("--train_batch", type=int, default=0,
                 help="global batch for the training suite (0: each config's own)")
  p.add_argument("--train_dtype", default="",
                 help="compute dtype override for training (e.g. bfloat16 on GPUs)")
  p.add_argument("--train_steps", type=int, default=3, help="timed steps per config")
  p.add_argument("--generation_batches", type=_ints, default="1,64")
  p.add_argument("--generation_block", type=int, default=500)
  p.add_argument("--generation_blocks", type=int, default=2)
  p.add_argument("--naive_steps", type=int, default=2)
  p.add_argument("--remat_block", type=int, default=128,
                 help="targets per Transformer block where remat is on (memory "
                      "suite; per_target rows too big for the device)")
  p.add_argument("--largest_batch", type=int, default=1,
                 help="memory suite: search the largest batch that fits (0: skip)")
  p.add_argument("--torch_batch", type=int, default=4)
  p.add_argument("--torch_num_targets", type=int, default=1024)
  p.add_argument("--dataset_dir", default="",
                 help="a built split folder (…/music21_piano/full_fluidsynth/1.0.0)")
  p.add_argument("--pipeline_step_seconds", type=float, default=0.58,
                 help="measured default-config step time the pipeline must feed")
  return p


def _log(row) -> None:
  print(json.dumps(row, default=str), flush=True)


def run_suite(name: str, args: argparse.Namespace) -> dict:
  """One suite's result dict (without the environment)."""
  # pylint: disable=import-outside-toplevel  (each suite imports only what it needs)
  limit = environment.memory_limit_bytes()
  if name == "per_target":
    from audiolm_jax.bench import per_target
    return per_target.run(preset=args.preset, contexts=args.contexts,
                          num_targets=args.num_targets,
                          chunked_batch=args.chunked_batch, memory_limit=limit,
                          budget_s=args.budget_s, max_repeats=args.max_repeats,
                          remat_block=args.remat_block, log=_log)
  if name == "training":
    from audiolm_jax.bench import matmul, training
    rate = matmul.rate()
    _log({"matmul": rate})
    return training.run(config_paths=args.train_configs.split(","),
                        batch_size=args.train_batch or None, steps=args.train_steps,
                        matmul=rate, memory_limit=limit,
                        dtype=args.train_dtype or None, log=_log)
  if name == "generation":
    from audiolm_jax.bench import generation
    return generation.run(preset=args.preset, context=None,
                          batches=args.generation_batches,
                          block=args.generation_block, blocks=args.generation_blocks,
                          naive_steps=args.naive_steps, log=_log)
  if name == "memory":
    from audiolm_jax.bench import memory
    return memory.run(preset=args.preset, contexts=args.contexts, memory_limit=limit,
                      remat_block=args.remat_block,
                      find_largest_batch=bool(args.largest_batch), log=_log)
  if name == "torch":
    from audiolm_jax.bench import torch_compare
    return torch_compare.run(preset=args.preset, batch=args.torch_batch,
                             num_targets=args.torch_num_targets,
                             max_repeats=args.max_repeats, budget_s=args.budget_s,
                             log=_log)
  from audiolm_jax.bench import pipeline
  return pipeline.run(dataset_dir=args.dataset_dir, workers=[0, 2], context=4000,
                      num_targets=512, batch=8, step_seconds=args.pipeline_step_seconds,
                      log=_log)


# The flags each suite reads: its reproducing command names only these.
_SUITE_FLAGS = {
    "per_target": ("--preset", "--contexts", "--num_targets", "--chunked_batch",
                   "--budget_s", "--max_repeats", "--remat_block"),
    "training": ("--train_configs", "--train_batch", "--train_dtype", "--train_steps"),
    "generation": ("--preset", "--generation_batches", "--generation_block",
                   "--generation_blocks", "--naive_steps"),
    "memory": ("--preset", "--contexts", "--remat_block", "--largest_batch"),
    "torch": ("--preset", "--torch_batch", "--torch_num_targets", "--budget_s",
              "--max_repeats"),
    "pipeline": ("--dataset_dir", "--pipeline_step_seconds"),
}


def _command(argv: list[str], suite: str) -> str:
  """The command line that reruns just `suite` with the same settings."""
  words = ["python -m audiolm_jax.bench", f"--suites {suite}"]
  i = 0
  while i < len(argv):
    flag, eq, value = argv[i].partition("=")
    if not eq and i + 1 < len(argv):
      value, i = argv[i + 1], i + 1
    if flag in _SUITE_FLAGS[suite]:
      words.append(f"{flag} {shlex.quote(value)}")
    i += 1
  return " ".join(words)


def _write_atomically(path: str, text: str) -> None:
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path + ".tmp", "w") as f:
    f.write(text)
  os.replace(path + ".tmp", path)


def main(argv: list[str] | None = None) -> dict:
  argv = sys.argv[1:] if argv is None else argv
  args = parser().parse_args(argv)
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
  results = {}
  if os.path.isfile(args.out):
    with open(args.out) as f:
      try:
        results = json.load(f)
      except json.JSONDecodeError as e:
        raise SystemExit(f"--out {args.out} exists but is not a results file ({e}); "
                         f"move it away or choose another --out") from e
  env = environment.environment()
  for name in suites:
    print(f"== {name} on {env['device']}", flush=True)
    suite = run_suite(name, args)
    extra = ({"torch": suite["torch_version"]} if name == "torch" else {})
    results[name] = {**environment.environment(**extra),
                     "command": _command(argv, name), **suite}
    # Written after every suite, atomically: a crash keeps the suites already done.
    _write_atomically(args.out, json.dumps(results, indent=1))
    _write_atomically(os.path.splitext(args.out)[0] + ".md", report.markdown(results))
  print(report.markdown(results))
  return results


if __name__ == "__main__":
  main()
