"""Per-target forward time of the PyTorch reference (eager and torch.compile), JAX
chunked and JAX dense, same parameters, same CPU, one run.

    python benchmarks/torch_vs_jax.py [--preset paper_128k] [--batch 4] [--num_targets 1024]

Needs the bench extra (CPU torch). Fastest of `--repeats` runs after a warm-up.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch

from audiolm_jax import AudioLM, get_model_config, init_params, torch_reference

import bench_io  # benchmarks/bench_io.py


def _best(fn, repeats):
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--preset", default="paper_128k")
  p.add_argument("--batch", type=int, default=4, help="chunked: targets per call")
  p.add_argument("--num_targets", type=int, default=1024, help="dense: K")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--out", default="bench_results/torch_vs_jax.json")
  args = p.parse_args()
  cfg = get_model_config(args.preset)
  model = AudioLM(cfg)
  params = init_params(model, jax.random.key(0))
  rng = np.random.default_rng(0)
  contexts = rng.integers(0, 256, (args.batch, cfg.context))
  row = jnp.asarray(rng.integers(0, 256, (1, cfg.context + args.num_targets)))
  ported = torch_reference.from_flax(cfg, params)
  compiled = torch.compile(ported)
  x = torch.from_numpy(contexts)
  chunked_fn = jax.jit(lambda p, c: model.apply({"params": p}, c,
                                                method=AudioLM.chunked_logits))
  dense_fn = jax.jit(lambda p, c: model.apply({"params": p}, c,
                                              num_targets=args.num_targets))
  with torch.no_grad():
    rows = {
        "torch_eager": _best(lambda: ported(x), args.repeats) / args.batch,
        "torch_compile": _best(lambda: compiled(x), args.repeats) / args.batch,
    }
  cj = jnp.asarray(contexts)
  rows["jax_chunked"] = _best(lambda: chunked_fn(params, cj).block_until_ready(),
                              args.repeats) / args.batch
  rows["jax_dense"] = _best(lambda: dense_fn(params, row).block_until_ready(),
                            args.repeats) / args.num_targets
  result = {"benchmark": "torch_vs_jax_forward", "preset": args.preset,
            **bench_io.environment(torch=torch.__version__),
            "ms_per_target": {k: 1e3 * v for k, v in rows.items()}}
  bench_io.write(result, args.out)


if __name__ == "__main__":
  main()
