"""Wall-clock timing of jitted calls: warm up, then the fastest and median of repeats."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import jax


def seconds(fn: Callable[[], Any], *, max_repeats: int = 5,
            budget_s: float = 30.0) -> dict:
  """Times `fn()` (which must return device arrays or None) after one warm-up call.

  Repeats while they fit in `budget_s` (at most `max_repeats`; a warm-up call longer
  than the budget is itself the one measurement: pass compiled functions) and
  returns {"min_s", "median_s", "repeats"}. The minimum is the headline: on a shared
  machine noise only ever adds time.
  """
  start = time.perf_counter()
  jax.block_until_ready(fn())  # compiles if needed, fills caches
  warm = time.perf_counter() - start
  if warm > budget_s:  # a long call (ahead-of-time compiled): one is all we afford
    return {"min_s": warm, "median_s": warm, "repeats": 1}
  repeats = max(1, min(max_repeats, int(budget_s / max(warm, 1e-6))))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return {"min_s": min(times), "median_s": statistics.median(times),
          "repeats": repeats}
