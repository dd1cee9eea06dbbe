"""The `sampled_cost` suite: what the `sampled` protocol costs per scored target.

The protocol scores isolated targets, each after its own full context. For the
paper's presets (128k, 500k, 1M samples of context), XLA's compiled FLOPs and memory
of one call scoring `batch` such targets two ways:

* dense with K = 1: a window of context + 1 codes per target (the path training
  uses, at one target a window);
* chunked: `target_logits`, the paper's literal computation (what the protocol runs);

then it scores `positions` random targets per preset through the protocol's
`TargetScorer` (random parameters: cost does not depend on them) and times them, to
show that every context runs on this machine.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from audiolm_jax.evaluation.scorer import TargetScorer
from audiolm_jax import models
from audiolm_jax.models.cost import flops_of, peak_bytes_of

def measure(preset: str, batch: int, positions: int, seed: int = 0) -> dict:
  model = models.build_at_size(models.DEFAULT_FAMILY, preset)
  c = model.left_context
  abstract = jax.eval_shape(model.init, jax.random.key(0))
  dense = jax.jit(lambda p, x: model.logits(p, x, num_targets=1)).lower(
      abstract, jax.ShapeDtypeStruct((batch, c + 1), jnp.int32)).compile()
  chunked = jax.jit(model.target_logits).lower(
      abstract, jax.ShapeDtypeStruct((batch, c), jnp.int32)).compile()
  row = {"preset": preset, "context": c, "batch": batch, "positions": positions,
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


def run(presets, batch: int, positions: int, log=print) -> dict:
  """The suite: one row per preset ({"rows": [...]})."""
  rows = []
  for preset in presets:
    rows.append(measure(preset, batch, positions))
    log(rows[-1])
  return {"rows": rows}
