"""Input pipeline throughput against what a training step consumes.

    python benchmarks/pipeline_throughput.py --dataset_dir DIR [--workers 0 2]
        [--context 4000] [--num_targets 512] [--batch 8] [--step_seconds 0.6]

Reads batches of training windows for a few seconds per worker count and reports
windows/s and samples/s; `--step_seconds` (a measured training step time, e.g. from
metrics.jsonl) turns that into the ratio of supply to demand.
"""

from __future__ import annotations

import argparse
import json
import time

from absl import flags

from audiolm_jax.data import pipeline


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--dataset_dir", required=True)
  p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
  p.add_argument("--context", type=int, default=4000)
  p.add_argument("--num_targets", type=int, default=512)
  p.add_argument("--batch", type=int, default=8)
  p.add_argument("--step_seconds", type=float, default=0.6)
  p.add_argument("--seconds", type=float, default=5.0)
  args = p.parse_args()
  flags.FLAGS.mark_as_parsed()
  window = args.context + args.num_targets
  demand = args.batch * window / args.step_seconds
  for workers in args.workers:
    cfg = pipeline.PipelineConfig(path=args.dataset_dir, context=args.context,
                                  num_targets=args.num_targets, batch_size=args.batch,
                                  worker_count=workers)
    it = iter(pipeline.train_dataset(cfg))
    for _ in range(5):
      next(it)  # start workers, fill buffers
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
      next(it)
      n += 1
    rate = n * args.batch / (time.perf_counter() - start)
    print(json.dumps({"workers": workers, "windows_per_s": round(rate),
                      "samples_per_s": round(rate * window),
                      "training_demand_samples_per_s": round(demand),
                      "supply_over_demand": round(rate * window / demand, 1)}))
    if hasattr(it, "close"):
      it.close()


if __name__ == "__main__":
  main()
