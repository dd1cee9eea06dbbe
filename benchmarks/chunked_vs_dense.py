"""Forward cost per target of the chunked (paper) and dense paths, on this machine.

    python benchmarks/chunked_vs_dense.py [--preset paper_128k] [--num_targets 1024]
        [--chunked_batch 4] [--repeats 5] [--out bench_results/chunked_vs_dense.json]

Both paths run the same random parameters on random codes, jitted and warmed up;
the time is the fastest of `repeats` interleaved runs (the median is reported
too) divided by the number of targets. FLOPs
come from XLA's compiled cost analysis.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from audiolm_jax import AudioLM, count_params, get_model_config, init_params
from audiolm_jax.cost import flops_per_target

import bench_io  # benchmarks/bench_io.py


def _interleaved_seconds(runs: dict, repeats: int) -> dict:
  """Min and median wall time of each (fn, args), runs alternating so that noise
  from other tenants of the machine hits both paths alike."""
  for fn, args in runs.values():
    jax.block_until_ready(fn(*args))  # compile and warm up
  times = {name: [] for name in runs}
  for _ in range(repeats):
    for name, (fn, args) in runs.items():
      start = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times[name].append(time.perf_counter() - start)
  return {name: (min(t), statistics.median(t)) for name, t in times.items()}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--preset", default="paper_128k")
  parser.add_argument("--num_targets", type=int, default=1024)
  parser.add_argument("--chunked_batch", type=int, default=4)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--out", default="bench_results/chunked_vs_dense.json")
  args = parser.parse_args()

  cfg = get_model_config(args.preset)
  model = AudioLM(cfg)
  params = init_params(model, jax.random.key(0))
  rng = np.random.default_rng(0)
  k = args.num_targets
  rows = jnp.asarray(rng.integers(0, 256, (1, cfg.context + k)), jnp.int32)
  contexts = jnp.asarray(rng.integers(0, 256, (args.chunked_batch, cfg.context)),
                         jnp.int32)

  dense_fn = jax.jit(lambda p, c: model.apply({"params": p}, c, num_targets=k))
  chunked_fn = jax.jit(lambda p, c: model.apply({"params": p}, c,
                                                method=AudioLM.chunked_logits))
  times = _interleaved_seconds({"dense": (dense_fn, (params, rows)),
                                 "chunked": (chunked_fn, (params, contexts))},
                                args.repeats)
  dense_s, dense_median = (t / k for t in times["dense"])
  chunked_s, chunked_median = (t / args.chunked_batch for t in times["chunked"])
  result = {
      "benchmark": "chunked_vs_dense_forward", **bench_io.environment(),
      "preset": args.preset, "context": cfg.context, "params": count_params(params),
      "num_targets_dense": k, "chunked_batch": args.chunked_batch,
      "dense_ms_per_target": 1e3 * dense_s,
      "chunked_ms_per_target": 1e3 * chunked_s,
      "time_ratio": chunked_s / dense_s,
      "time_ratio_of_medians": chunked_median / dense_median,
      "dense_gflop_per_target": flops_per_target(model, params, path="dense",
                                                 num_targets=k) / 1e9,
      "chunked_gflop_per_target": flops_per_target(
          model, params, path="chunked", batch=args.chunked_batch) / 1e9,
  }
  result["flop_ratio"] = (result["chunked_gflop_per_target"]
                          / result["dense_gflop_per_target"])
  bench_io.write(result, args.out)


if __name__ == "__main__":
  main()
