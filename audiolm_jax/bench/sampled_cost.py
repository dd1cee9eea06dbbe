"""What the `sampled` protocol costs per scored target, before and after it moved to
the chunked path: `python -m audiolm_jax.bench.sampled_cost [--positions 8]`.

For the paper's presets (128k, 500k, 1M samples of context), XLA's compiled FLOPs
and memory of one call scoring `--batch` targets, each after its own full context:

* before: the dense path with K = 1 (a window of context + 1 codes per target),
  as the protocol ran until it moved;
* after: `target_logits`, the paper's literal chunked path (what it runs now);

then it scores `--positions` random targets per preset through the protocol's
`TargetScorer` (random parameters: cost does not depend on them) and prints the time
per target, to show that every context runs on this machine.
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from audiolm_jax import cli
from audiolm_jax.evaluation.scorer import TargetScorer
from audiolm_jax import models
from audiolm_jax.models.cost import flops_of, peak_bytes_of

PRESETS = ("paper_128k", "paper_500k", "million")


def measure(preset: str, batch: int, positions: int, seed: int = 0) -> dict:
  model = models.build_at_size(models.DEFAULT_FAMILY, preset)
  c = model.left_context
  abstract = jax.eval_shape(model.init, jax.random.key(0))
  dense = jax.jit(lambda p, x: model.logits(p, x, num_targets=1)).lower(
      abstract, jax.ShapeDtypeStruct((batch, c + 1), jnp.int32)).compile()
  chunked = jax.jit(model.target_logits).lower(
      abstract, jax.ShapeDtypeStruct((batch, c), jnp.int32)).compile()
  row = {"preset": preset, "context": c, "batch": batch,
         "dense_gflop_per_target": flops_of(dense) / batch / 1e9,
         "dense_gib": peak_bytes_of(dense) / 2 ** 30,
         "chunked_gflop_per_target": flops_of(chunked) / batch / 1e9,
         "chunked_gib": peak_bytes_of(chunked) / 2 ** 30}
  del dense, chunked
  if positions:
    params = model.init(jax.random.key(seed))
    scorer = TargetScorer(model, params, batch=batch)
    rng = np.random.default_rng(seed)
    contexts = rng.integers(0, 256, (positions, c)).astype(np.uint8)
    targets = rng.integers(0, 256, positions).astype(np.uint8)
    scorer(contexts[:batch], targets[:batch])  # warm-up
    start = time.perf_counter()
    nll = scorer(contexts, targets)
    row["s_per_target"] = (time.perf_counter() - start) / positions
    row["finite"] = bool(np.all(np.isfinite(nll)))
  return row


def markdown(rows: list[dict]) -> str:
  lines = ["| context | before: dense K = 1, GFLOP per target | after: chunked, GFLOP "
           "per target | before / after | compiled GiB (batch %d), before / after | "
           "s per target (after) |" % rows[0]["batch"],
           "|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(
        f"| {r['context']:,} | {r['dense_gflop_per_target']:.1f} | "
        f"{r['chunked_gflop_per_target']:.1f} | "
        f"{r['dense_gflop_per_target'] / r['chunked_gflop_per_target']:.1f}x | "
        f"{r['dense_gib']:.2f} / {r['chunked_gib']:.2f} | "
        + (f"{r['s_per_target']:.2f} |" if "s_per_target" in r else "- |"))
  return "\n".join(lines)


FLAGS = flags.FlagValues()
_BATCH = flags.DEFINE_integer("batch", 4, "targets per call (evaluate's --batch)",
                              flag_values=FLAGS)
_POSITIONS = flags.DEFINE_integer("positions", 8, "targets to score per preset "
                                  "(0: compile only)", flag_values=FLAGS)
_PRESETS = flags.DEFINE_list("presets", list(PRESETS), "model presets",
                             flag_values=FLAGS)


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.bench.sampled_cost",
                        __doc__)) is not None:
    return code
  rows = []
  for preset in _PRESETS.value:
    rows.append(measure(preset, _BATCH.value, _POSITIONS.value))
    print(rows[-1], flush=True)
  print(markdown(rows))
  return 0


if __name__ == "__main__":
  sys.exit(main())
