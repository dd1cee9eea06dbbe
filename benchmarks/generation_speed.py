"""Generation speed: naive (chunked recomputation) vs cached (ring buffers).

    python benchmarks/generation_speed.py [--preset paper_128k] [--batches 1 16]
        [--cached_samples 2000] [--naive_samples 4]

Random parameters; both paths jitted and warmed up; samples/s counts every stream.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from audiolm_jax import AudioLM, generation, get_model_config, init_params

import bench_io  # benchmarks/bench_io.py


def _rate(fn, samples, batch, warmup):
  fn(warmup)  # compile (a scan compiles per length) and warm up
  start = time.perf_counter()
  fn(samples)
  return samples * batch / (time.perf_counter() - start)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--preset", default="paper_128k")
  p.add_argument("--batches", type=int, nargs="+", default=[1, 16])
  p.add_argument("--cached_samples", type=int, default=2000)
  p.add_argument("--naive_samples", type=int, default=4)
  p.add_argument("--out", default="bench_results/generation_speed.json")
  args = p.parse_args()
  model = AudioLM(get_model_config(args.preset))
  params = init_params(model, jax.random.key(0))
  key = jax.random.key(1)
  rows = []
  for batch in args.batches:
    prompt = np.random.default_rng(0).integers(0, 256, (batch, 1000))
    block = args.cached_samples

    def cached(n):
      generation.generate(model, params, key, num_samples=n, prompt_BxP=prompt,
                          block=min(block, n))

    def naive(n):
      generation.generate_naive(model, params, key, num_samples=n, prompt_BxP=prompt)

    c = _rate(cached, args.cached_samples, batch, args.cached_samples)
    n = _rate(naive, args.naive_samples, batch, 1)
    rows.append({"batch": batch, "cached_samples_per_s": c, "naive_samples_per_s": n,
                 "speedup": c / n, "cached_real_time_factor": c / 16_000})
    print(json.dumps(rows[-1]))
  bench_io.write({"benchmark": "generation_speed", **bench_io.environment(),
                  "preset": args.preset, "rows": rows}, args.out)


if __name__ == "__main__":
  main()
