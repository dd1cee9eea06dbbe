"""Input pipeline throughput: windows/s the Grain pipeline supplies from a built
dataset, against what a training step consumes."""

from __future__ import annotations

import time

from absl import flags

from audiolm_jax.bench import environment
from audiolm_jax.data import pipeline


def run(*, dataset_dir: str, workers: list[int], context: int, num_targets: int,
        batch: int, step_seconds: float, seconds: float = 5.0, log=print) -> dict:
  """Rows of windows/s and samples/s per worker count; `step_seconds` (a measured
  training step) turns samples/s into supply over demand."""
  flags.FLAGS.mark_as_parsed()  # Grain's worker processes read absl flags
  window = context + num_targets
  demand = batch * window / step_seconds
  rows = []
  for count in workers:
    cfg = pipeline.PipelineConfig(path=dataset_dir, context=context,
                                  num_targets=num_targets, batch_size=batch,
                                  worker_count=count)
    it = iter(pipeline.train_dataset(cfg))
    for _ in range(5):
      next(it)  # start the workers, fill their buffers
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
      next(it)
      n += 1
    rate = n * batch / (time.perf_counter() - start)
    rows.append({"workers": count, "windows_per_s": rate,
                 "samples_per_s": rate * window,
                 "supply_over_demand": rate * window / demand})
    log(rows[-1])
    if hasattr(it, "close"):
      it.close()
  return {"dataset_dir": environment.portable_path(dataset_dir), "context": context,
          "num_targets": num_targets,
          "batch": batch, "step_seconds": step_seconds,
          "demand_samples_per_s": demand, "rows": rows}
