"""FLOPs per target, from XLA's compiled cost analysis (not from a formula).

    flops_per_target(model, params, path="dense", num_targets=1024)
    flops_per_target(model, params, path="chunked", batch=4)

compile the forward pass for abstract inputs of the given shape and divide XLA's
FLOP count by the number of targets. Nothing runs on the device. `encoder_macs`
gives the analytic multiply-add count of one chunk encoding, for cross-checks.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from audiolm_jax.models.cnn_transformer_module import CNNTransformerModule
from audiolm_jax.models.cnn_transformer_config import CNNTransformerConfig


def flops_of(compiled: Any) -> float:
  """FLOPs in a compiled executable's cost analysis (per device)."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older jax returned one dict per device
    analysis = analysis[0]
  if not analysis or "flops" not in analysis:
    raise RuntimeError("this backend's compiled cost analysis reports no FLOPs")
  return float(analysis["flops"])


def peak_bytes_of(compiled: Any) -> int:
  """Device memory a compiled executable needs: arguments + outputs + temporaries,
  less the outputs that reuse donated arguments (XLA's buffer assignment)."""
  mem = compiled.memory_analysis()
  if mem is None:
    raise RuntimeError("this backend's compiled memory analysis is unavailable")
  return int(mem.argument_size_in_bytes + mem.output_size_in_bytes
             + mem.temp_size_in_bytes - mem.alias_size_in_bytes)


def compiled_flops(fn: Callable[..., Any], *args: Any) -> float:
  """FLOPs XLA reports for `jax.jit(fn)(*args)`; args may be ShapeDtypeStructs."""
  return flops_of(jax.jit(fn).lower(*args).compile())


def flops_per_target(model: CNNTransformerModule, params: Any, *, path: str = "dense",
                     num_targets: int = 1024, batch: int = 1) -> float:
  """Forward FLOPs per predicted sample for the `dense` or `chunked` path.

  dense: `batch` rows of context + num_targets samples, num_targets targets each.
  chunked: `batch` contexts of exactly `context` samples, one target each.
  """
  cfg = model.config
  if path == "dense":
    codes = jax.ShapeDtypeStruct((batch, cfg.context + num_targets), jnp.int32)
    fn = lambda p, c: model.apply({"params": p}, c, num_targets=num_targets)
    targets = batch * num_targets
  elif path == "chunked":
    codes = jax.ShapeDtypeStruct((batch, cfg.context), jnp.int32)
    fn = lambda p, c: model.apply({"params": p}, c, method=CNNTransformerModule.chunked_logits)
    targets = batch
  else:
    raise ValueError(f"path must be 'dense' or 'chunked', got {path!r}")
  return compiled_flops(fn, params, codes) / targets


def encoder_macs(cfg: CNNTransformerConfig) -> int:
  """Multiply-adds of one chunk encoding (the chunked path's unit of work)."""
  n, c_in, macs = cfg.receptive_field, 1, 0
  for features, stride in zip(cfg.conv_features, cfg.conv_strides):
    n = (n - cfg.conv_kernel) // stride + 1
    macs += n * cfg.conv_kernel * c_in * features
    c_in = features
  return macs + n * c_in * cfg.token_dim
