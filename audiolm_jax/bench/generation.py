"""Generation speed, steady state: cached (incremental state) vs naive (recompute).

Each model family at its paper size: the paper's model (`--preset`) and any other
family named in `families` (its config's defaults: s4's sizes).

Samples/s counts every stream; the real-time factor is generated audio seconds per
wall-clock second over all streams (1.0 = as fast as 16 kHz playback). Both paths
use random parameters and a random prompt; the first block (compilation, priming)
and the first naive step (compilation) are excluded.
"""

from __future__ import annotations

import statistics
import time

import jax
import numpy as np

from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax import models
from audiolm_jax.generation import sampler

PROMPT = 4_000  # random prompt codes (0.25 s)


def _intervals(iterator) -> list[float]:
  times, last = [], time.perf_counter()
  for _ in iterator:
    now = time.perf_counter()
    times.append(now - last)
    last = now
  return times


def cached_rate(model, params, prompt, *, block: int, blocks: int) -> float:
  """Samples/s per stream of `sampler.generate` after its first block."""
  key = jax.random.key(1)
  times = _intervals(sampler.generate_blocks(
      model, params, key, num_samples=block * (blocks + 1), prompt_BxP=prompt,
      block=block))
  return block / min(times[1:])


def naive_rate(model, params, prompt, *, steps: int) -> float:
  """Samples/s per stream of `sampler.generate_naive` after its first step."""
  stamps = []
  sampler.generate_naive(model, params, jax.random.key(1), num_samples=steps + 1,
                         prompt_BxP=prompt,
                         callback=lambda _: stamps.append(time.perf_counter()))
  return 1.0 / statistics.median(np.diff(stamps))


def run(*, preset: str, batches: list[int], block: int, blocks: int,
        naive_steps: int, families: tuple[str, ...] = (models.DEFAULT_FAMILY,),
        log=print) -> dict:
  rows = []
  for family in families:
    model = models.build_at_size(family, preset)
    params = model.init(jax.random.key(0))
    for batch in batches:
      prompt = np.random.default_rng(0).integers(0, 256, (batch, PROMPT))
      for method in ("cached", "naive"):
        per_stream = (cached_rate(model, params, prompt, block=block, blocks=blocks)
                      if method == "cached" else
                      naive_rate(model, params, prompt, steps=naive_steps))
        rows.append({"model": family, "context": model.left_context, "batch": batch,
                     "method": method, "samples_per_s": per_stream * batch,
                     "samples_per_s_per_stream": per_stream,
                     "real_time_factor": per_stream * batch / SAMPLE_RATE})
        log(rows[-1])
  speedups = []
  for family in families:
    for batch in batches:
      c, n = (next(r["samples_per_s"] for r in rows if r["model"] == family
                   and r["batch"] == batch and r["method"] == m)
              for m in ("cached", "naive"))
      speedups.append({"model": family, "batch": batch, "cached_over_naive": c / n})
  return {"preset": preset, "context": rows[0]["context"], "block": block,
          "rows": rows, "speedups": speedups}
