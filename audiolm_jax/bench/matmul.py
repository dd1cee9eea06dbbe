"""The device's measured matmul rate: the denominator of model FLOPs utilization.

bfloat16 on accelerators (what their tensor cores are rated for), float32 on the CPU
(what training runs there in). A square matmul large enough to be compute-bound;
the fastest of several runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from audiolm_jax.bench import timing


def rate(size: int | None = None, dtype: str | None = None) -> dict:
  """{"dtype", "size", "tflops"}: 2 n^3 / fastest time of an n x n matmul."""
  on_cpu = jax.default_backend() == "cpu"
  dtype = dtype or ("float32" if on_cpu else "bfloat16")
  size = size or (2048 if on_cpu else 8192)
  keys = jax.random.split(jax.random.key(0))
  a, b = (jax.random.normal(k, (size, size), dtype) for k in keys)
  matmul = jax.jit(jnp.matmul)
  t = timing.seconds(lambda: matmul(a, b), max_repeats=20, budget_s=10.0)
  return {"dtype": dtype, "size": size, "tflops": 2 * size**3 / t["min_s"] / 1e12}
