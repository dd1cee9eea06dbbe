"""Training throughput of the paper configs: the real sharded train step, random codes.

Runs `loop.ShardedStep` (the step `train.py` compiles: data parallel over every
device, state donated) on uniformly random windows, which cost the same as real
audio. Model FLOPs come from XLA's count of the same step compiled without
rematerialization (recomputation is not useful work), so MFU = model FLOPs per
second / the measured matmul rate.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from audiolm_jax.bench import environment
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.models import cost
from audiolm_jax.training import config as train_config
from audiolm_jax.training import config_loader
from audiolm_jax.training.sharding import ShardedStep, data_mesh


def measure(config_path: str, *, batch_size: int | None, steps: int,
            matmul_tflops: float, memory_limit: int, dtype: str | None = None,
            log=print) -> dict:
  """Steps/s, targets/s, audio seconds/s and MFU of one config's train step
  (batch_size / dtype: None keeps the config's)."""
  config = config_loader.load_config_file(config_path)
  if batch_size:
    config.batch_size = batch_size
  if dtype and "dtype" in config.model:  # SaShiMi computes in float32 only
    config.model.dtype = dtype
  n_dev = jax.device_count()
  model = train_config.checked_model(config, n_dev)
  model_cfg = model.config
  remat_encoder = getattr(model_cfg, "remat_encoder", False)
  remat_block = getattr(model_cfg, "remat_block", 0)
  mesh = data_mesh()
  sharded = ShardedStep.build(config, model, mesh, jax.random.key(0))
  compiled = sharded.compile(config.batch_size, jax.random.key(1))
  row = {"config": config_path, "model": model.name, "context": model.left_context,
         "objective": config.objective, "batch_size": config.batch_size,
         "targets_per_step": config.batch_size * train_config.window_targets(config),
         "remat_encoder": remat_encoder, "remat_block": remat_block,
         "dtype": getattr(model_cfg, "dtype", "float32"),
         "devices": n_dev, "compiled_gib": cost.peak_bytes_of(compiled) / 2**30}
  skipped = environment.does_not_fit(cost.peak_bytes_of(compiled), memory_limit)
  if skipped:
    row["skipped"] = skipped
    log(row)
    return row
  model_flops = cost.flops_of(compiled) * n_dev
  loops = {k: v for k, v in (("remat_encoder", False), ("remat_block", 0),
                              ("scan_unroll", 0)) if hasattr(model_cfg, k)}
  if remat_encoder or remat_block or "scan_unroll" in loops:
    # Recomputation is not model work, and XLA counts a loop body once, not per
    # iteration: count the same step compiled without remat and with every scan
    # unrolled (never run).
    plain_model = type(model)(model_cfg.replace(**loops))
    plain = ShardedStep.build(config, plain_model, mesh, jax.random.key(0)
                              ).compile(config.batch_size, jax.random.key(1))
    model_flops = cost.flops_of(plain) * n_dev
  state = jax.jit(sharded.init, out_shardings=sharded.state_sharding)(
      jax.random.key(0))
  codes = np.random.default_rng(0).integers(
      0, 256, (config.batch_size, sharded.window), np.uint8)
  batch = {"codes": codes}
  if sharded.stateful:
    batch["reset"] = np.zeros(config.batch_size, bool)
  batch = jax.device_put(batch, sharded.batch_sharding)
  rng = jax.random.key(1)
  state, metrics = compiled(state, batch, rng)  # warm up
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics = compiled(state, batch, rng)
  jax.block_until_ready((state, metrics))
  step_s = (time.perf_counter() - start) / steps
  targets = row["targets_per_step"]
  row.update(steps_timed=steps, step_s=step_s, targets_per_s=targets / step_s,
             audio_s_per_s=targets / step_s / SAMPLE_RATE,
             model_tflop_per_step=model_flops / 1e12,
             mfu=model_flops / step_s / (matmul_tflops * 1e12 * n_dev),
             loss_bits=float(metrics["loss_bits"]))
  log(row)
  return row


def run(*, config_paths: list[str], batch_size: int | None, steps: int,
        matmul: dict, memory_limit: int, dtype: str | None = None, log=print) -> dict:
  rows = [measure(p, batch_size=batch_size, steps=steps, dtype=dtype,
                  memory_limit=memory_limit,
                  matmul_tflops=matmul["tflops"], log=log) for p in config_paths]
  return {"matmul": matmul, "rows": rows}
