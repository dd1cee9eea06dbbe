"""Per-target cost of the chunked (paper) and dense paths, forward and forward+backward.

For each context length: the chunked path on `chunked_batch` contexts (one target
each) and the dense path on one row with K targets, for each K. "fwd" is the
eval-mode forward pass; "fwd+bwd" also takes the gradient of the mean cross-entropy
with respect to every parameter. FLOPs and memory come from the compiled executable;
a configuration whose compiled memory exceeds the device's runs with `remat_block`,
then also `remat_encoder`, and is reported, not run, if it still does not fit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from audiolm_jax.models import cost
from audiolm_jax.bench import environment, timing
from audiolm_jax.models.cnn_transformer_module import CNNTransformerModule, init_params
from audiolm_jax.models.cnn_transformer_config import get_model_config

PASSES = ("fwd", "fwd+bwd")


def _function(model: CNNTransformerModule, path: str, num_targets: int, backward: bool):
  """(params, codes) -> logits (fwd) or parameter gradients (fwd+bwd)."""

  def logits_and_labels(params, codes):
    if path == "chunked":
      # Labels are arbitrary codes: the cost does not depend on them.
      return (model.apply({"params": params}, codes, method=CNNTransformerModule.chunked_logits),
              codes[:, 0])
    return (model.apply({"params": params}, codes, num_targets=num_targets),
            codes[:, -num_targets:])

  if not backward:
    return lambda params, codes: logits_and_labels(params, codes)[0]

  def loss(params, codes):
    logits, labels = logits_and_labels(params, codes)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

  return jax.grad(loss)


def measure(model: CNNTransformerModule, params, *, path: str, pass_: str, num_targets: int,
            chunked_batch: int, memory_limit: int, budget_s: float,
            max_repeats: int, remat_block: int = 128, seed: int = 0) -> dict:
  """One row: ms per target (min, median), GFLOP per target, compiled GiB."""
  cfg = model.config
  if path == "chunked":
    shape, targets = (chunked_batch, cfg.context), chunked_batch
  else:
    shape, targets = (1, cfg.context + num_targets), num_targets
  codes = jnp.asarray(np.random.default_rng(seed).integers(0, 256, shape), jnp.int32)

  def compile_for(m):
    fn = jax.jit(_function(m, path, num_targets, pass_ == "fwd+bwd"))
    return fn.lower(params, codes).compile()

  compiled = compile_for(model)
  row = {"context": cfg.context, "path": path, "pass": pass_,
         "num_targets": num_targets if path == "dense" else 1,
         "rows": shape[0], "targets": targets,
         # XLA counts a loop body once, so FLOPs always come from the plain model.
         "gflop_per_target": cost.flops_of(compiled) / targets / 1e9,
         "compiled_gib": cost.peak_bytes_of(compiled) / 2**30, "remat": False}
  # Too big for the device as is: the same computation (equal numbers) with the
  # Transformer in rematerialized target blocks, then also the encoder in segments.
  for remat in ("blocks", "blocks+encoder"):
    if not environment.does_not_fit(cost.peak_bytes_of(compiled), memory_limit):
      break
    compiled = compile_for(CNNTransformerModule(cfg.replace(
        remat_block=remat_block, remat_encoder=remat == "blocks+encoder")))
    row.update(remat=remat, compiled_gib_plain=row.get("compiled_gib_plain",
                                                       row["compiled_gib"]),
               compiled_gib=cost.peak_bytes_of(compiled) / 2**30)
  skipped = environment.does_not_fit(cost.peak_bytes_of(compiled), memory_limit)
  if skipped:
    row["skipped"] = skipped
    return row
  t = timing.seconds(lambda: compiled(params, codes), max_repeats=max_repeats,
                     budget_s=budget_s)
  row.update(ms_per_target=1e3 * t["min_s"] / targets,
             ms_per_target_median=1e3 * t["median_s"] / targets,
             repeats=t["repeats"])
  return row


def ratios(rows: list[dict]) -> list[dict]:
  """Chunked over dense, per target, for every (context, pass, K) measured."""
  out = []
  for d in rows:
    if d["path"] != "dense":
      continue
    for c in rows:
      if (c["path"], c["context"], c["pass"]) != ("chunked", d["context"], d["pass"]):
        continue
      r = {"context": d["context"], "pass": d["pass"], "num_targets": d["num_targets"],
           "flop_ratio": c["gflop_per_target"] / d["gflop_per_target"]}
      if "ms_per_target" in c and "ms_per_target" in d:
        r["time_ratio"] = c["ms_per_target"] / d["ms_per_target"]
      out.append(r)
  return out


def run(*, preset: str, contexts: list[int], num_targets: list[int],
        chunked_batch: int, memory_limit: int, budget_s: float = 30.0,
        max_repeats: int = 5, remat_block: int = 128, log=print) -> dict:
  """Every (context, pass, path) row, then the chunked/dense ratios."""
  rows = []
  for context in contexts:
    model = CNNTransformerModule(get_model_config(preset, context=context))
    params = init_params(model, jax.random.key(0))
    for pass_ in PASSES:
      for path, k in [("chunked", 1)] + [("dense", k) for k in num_targets]:
        rows.append(measure(model, params, path=path, pass_=pass_, num_targets=k,
                            chunked_batch=chunked_batch, memory_limit=memory_limit,
                            budget_s=budget_s, max_repeats=max_repeats,
                            remat_block=remat_block))
        log(rows[-1])
  return {"preset": preset, "chunked_batch": chunked_batch, "rows": rows,
          "ratios": ratios(rows)}
