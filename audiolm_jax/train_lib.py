"""`train_and_evaluate(config, workdir)`: the whole training loop, importable.

Data parallel over a ("data",) mesh of every device: the batch is sharded, the
parameters and optimizer state replicated. The step is one pure jitted function with
the state donated, compiled ahead of time before step 0. Metrics are fetched a step
late so logging never stalls the device; checkpoints hold the state, the Grain
iterator and the config; SIGTERM saves and returns; a non-finite loss stops the run
and keeps the last good checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import threading
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P

from audiolm_jax import config_lib, steps
from audiolm_jax.checkpointing import Checkpointer
from audiolm_jax.data import datasets, pipeline
from audiolm_jax.metrics_io import MetricWriter
from audiolm_jax.model import AudioLM, count_params
from audiolm_jax.references import References

SAMPLE_RATE = 16_000
# Fault injection for the tests (and for drills): SIGKILL this process right after
# the checkpoint of step N is on disk; poison the parameters with NaN before step N.
FAULT_KILL_AFTER_CHECKPOINT = "AUDIOLM_FAULT_KILL_AFTER_CHECKPOINT"
FAULT_NAN_AT_STEP = "AUDIOLM_FAULT_NAN_AT_STEP"


def _fault_step(name: str) -> int:
  return int(os.environ.get(name, "-1"))


class NonFiniteLossError(FloatingPointError):
  """The training loss became NaN or infinite."""


def _global_batch(local_codes: np.ndarray, sharding: NamedSharding) -> jax.Array:
  return jax.make_array_from_process_local_data(sharding, local_codes)


def _to_host(x: jax.Array) -> np.ndarray:
  if jax.process_count() > 1:
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return np.asarray(x)


class Validator:
  """Validation NLL on a fixed, seeded set of windows, with the reference predictors."""

  def __init__(self, config, path: str, model: AudioLM, mesh, batch_sharding,
               references: References):
    self.k = config.num_targets
    self.batch = config.batch_size
    context = model.config.context
    sampler = pipeline.WindowSampler(pipeline.FlatSplit(path, "validation"), context,
                                     self.k, seed=config.seed + 1_000_003)
    n = max(config.eval_windows, 1)
    n_batches = math.ceil(n / self.batch)
    p, count = jax.process_index(), jax.process_count()
    self.local = [np.stack([sampler(j)["codes"] for j in
                            range(b * self.batch + p, (b + 1) * self.batch, count)])
                  for b in range(n_batches)]
    self.num_windows = n_batches * self.batch
    self.sharding = batch_sharding
    self.step = jax.jit(steps.make_eval_step(model, num_targets=self.k),
                        out_shardings=NamedSharding(mesh, P()))
    self.references = references
    self._reference_bits = None

  def _all_windows(self) -> np.ndarray:
    return np.concatenate([_to_host(_global_batch(b, self.sharding))
                           for b in self.local])

  def __call__(self, params) -> dict[str, float]:
    # The replicated result is whole on every process: read the local copy.
    nll = np.concatenate([
        np.asarray(self.step(params, _global_batch(b, self.sharding))
                   .addressable_data(0)) for b in self.local])  # [windows, K] bits
    per_window = nll.mean(axis=1)
    out = {"nll_bits": float(per_window.mean()),
           "nll_ci95": float(1.96 * per_window.std(ddof=1) / math.sqrt(len(per_window)))
                       if len(per_window) > 1 else float("nan"),
           "targets": float(nll.size)}
    if self._reference_bits is None:
      codes = self._all_windows()
      ref = self.references.nll_bits(codes[:, -self.k:], codes[:, -self.k - 1:-1])
      self._reference_bits = {f"{k}_bits": float(v.mean()) for k, v in ref.items()}
    out.update(self._reference_bits)
    return out


@contextlib.contextmanager
def _sigterm_flag():
  """Yields an Event set on SIGTERM (main thread only; elsewhere never set)."""
  event = threading.Event()
  if threading.current_thread() is not threading.main_thread():
    yield event
    return
  previous = signal.signal(signal.SIGTERM, lambda *_: event.set())
  try:
    yield event
  finally:
    signal.signal(signal.SIGTERM, previous)


def _log_compiled(compiled, writer: MetricWriter, batch_size: int, targets: int):
  lines = []
  try:
    mem = compiled.memory_analysis()
    if mem is not None:
      lines.append("compiled step memory: "
                   f"arguments {mem.argument_size_in_bytes / 2**20:.1f} MiB, "
                   f"outputs {mem.output_size_in_bytes / 2**20:.1f} MiB, "
                   f"temporaries {mem.temp_size_in_bytes / 2**20:.1f} MiB")
  except Exception as e:  # pylint: disable=broad-except
    lines.append(f"memory analysis unavailable ({e})")
  flops = None
  try:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost["flops"]) if cost and "flops" in cost else None
  except Exception:  # pylint: disable=broad-except
    pass
  if flops:
    lines.append(f"compiled step: {flops / 1e9:.2f} GFLOP per step (per device), "
                 f"{flops * jax.local_device_count() / (batch_size * targets) / 1e6:.1f}"
                 f" MFLOP per target")
  for line in lines:
    logging.info(line)
    writer.print(line)
  return flops


@dataclasses.dataclass(frozen=True)
class ShardedStep:
  """The data-parallel training step of a config on a ("data",) mesh.

  `init(rng)` makes the replicated TrainState, `step(state, codes [B, W] uint8, rng)`
  is the jitted, state-donating train step; batches are split over "data".
  """

  init: Callable[[jax.Array], steps.TrainState]
  step: Any
  abstract_state: Any           # ShapeDtypeStructs with shardings
  state_sharding: Any
  batch_sharding: NamedSharding
  window: int                   # codes per row: context + targets per window

  @classmethod
  def build(cls, config: ml_collections.ConfigDict, model: AudioLM, mesh,
            init_rng: jax.Array) -> "ShardedStep":
    batch_sharding = NamedSharding(mesh, P("data"))
    replicated = NamedSharding(mesh, P())
    optimizer, schedule = steps.make_optimizer(**config.optimizer.to_dict())
    k = config_lib.window_targets(config)

    def init(rng):
      params = model.init(rng, jnp.zeros((1, 1), jnp.int32), num_targets=1)["params"]
      return steps.TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params))

    abstract = jax.eval_shape(init, init_rng)
    state_sharding = jax.tree.map(lambda _: replicated, abstract)
    abstract = jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
        abstract, state_sharding)
    step = jax.jit(
        steps.make_train_step(model, optimizer, schedule, objective=config.objective,
                              num_targets=k),
        in_shardings=(state_sharding, batch_sharding, replicated),
        out_shardings=(state_sharding, replicated), donate_argnums=0)
    return cls(init, step, abstract, state_sharding, batch_sharding,
               model.config.context + k)

  def batch_struct(self, batch_size: int) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct((batch_size, self.window), jnp.uint8,
                                sharding=self.batch_sharding)

  def compile(self, batch_size: int, rng: jax.Array):
    """The step compiled ahead of time for global batches of `batch_size` windows."""
    return self.step.lower(self.abstract_state, self.batch_struct(batch_size),
                           rng).compile()


def data_mesh():
  """Every device on one ("data",) axis. Auto axes: XLA propagates the batch
  sharding through the model (plain GSPMD)."""
  return jax.make_mesh((jax.device_count(),), ("data",),
                       axis_types=(jax.sharding.AxisType.Auto,))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains (or resumes) the configured model in `workdir`; returns final metrics.

  Returns {"step", "train_loss_bits", "validation": {...}} and, if the run stopped on
  SIGTERM, "preempted": True.
  """
  n_dev, n_proc, proc = jax.device_count(), jax.process_count(), jax.process_index()
  model_cfg = config_lib.validate(config, n_dev, n_proc)
  config_dict = json.loads(config.to_json())
  # Saved beside the config: a restore on another process count rebuilds the data
  # stream's position instead of restoring per-process iterator states.
  config_dict["runtime"] = {"process_count": n_proc}
  os.makedirs(workdir, exist_ok=True)

  # ---- Data ----
  spec = config_lib.to_dataset_spec(config)
  data_dir = config_lib.data_dir(config)
  if proc == 0:
    path = datasets.build(spec, data_dir)
  if n_proc > 1:
    multihost_utils.sync_global_devices("dataset built")
  path = datasets.dataset_dir(spec, data_dir)
  data_quant = pipeline.dataset_quantization(path)
  if data_quant != model_cfg.quantization:
    raise ValueError(f"the dataset at {path} holds {data_quant} codes but "
                     f"model.quantization={model_cfg.quantization!r}; set "
                     f"--config.model.quantization={data_quant}")
  k = config_lib.window_targets(config)
  local_batch = config.batch_size // n_proc
  data_cfg = pipeline.PipelineConfig(
      path=path, split="train", context=model_cfg.context, num_targets=k,
      batch_size=local_batch, seed=config.seed, worker_count=config.data.worker_count,
      prefetch=config.data.prefetch)
  data_iter = iter(pipeline.train_dataset(data_cfg, process_index=proc,
                                          process_count=n_proc))

  # ---- Model, optimizer, shardings ----
  mesh = data_mesh()
  model = AudioLM(model_cfg)
  init_rng, dropout_rng = jax.random.split(jax.random.key(config.seed))
  sharded = ShardedStep.build(config, model, mesh, init_rng)
  init, abstract = sharded.init, sharded.abstract_state
  batch_sharding, state_sharding = sharded.batch_sharding, sharded.state_sharding

  writer = MetricWriter(workdir, total_steps=config.num_steps, enabled=proc == 0)
  ckpt = Checkpointer(workdir, keep=config.keep_checkpoints,
                      every=config.checkpoint_every)
  latest = ckpt.latest_step()
  if latest is not None:
    ckpt.check_compatible(latest, config_dict)
    saved_procs = ckpt.saved_config(latest).get("runtime", {}).get("process_count")
    if saved_procs == n_proc:
      state = ckpt.restore(latest, abstract, data_iter)
    else:
      # Example j of the global stream does not depend on the process count, so the
      # stream restarts exactly at the first example step `latest` had not read.
      state = ckpt.restore(latest, abstract, None)
      if hasattr(data_iter, "close"):
        data_iter.close()
      data_iter = iter(pipeline.train_dataset(
          data_cfg, process_index=proc, process_count=n_proc,
          start_example=latest * config.batch_size))
    writer.print(f"resumed from step {latest} in {ckpt.directory}"
                 + (f" (written by {saved_procs} processes)"
                    if saved_procs != n_proc else ""))
  else:
    state = jax.jit(init, out_shardings=state_sharding)(init_rng)
  start = int(state.step)
  writer.advance(start)
  writer.print(f"model: {count_params(state.params):,} parameters; {n_dev} device(s) "
               f"in {n_proc} process(es); dataset {path}")

  compiled = sharded.compile(config.batch_size, dropout_rng)
  _log_compiled(compiled, writer, config.batch_size, k)

  references = References.fit(pipeline.FlatSplit(path, "train").codes)
  validator = Validator(config, path, model, mesh, batch_sharding, references)
  targets_per_step = config.batch_size * k
  profile_dir = os.path.join(workdir, "profile")
  prof = config.profile
  profiling = False
  kill_after, nan_at = _fault_step(FAULT_KILL_AFTER_CHECKPOINT), _fault_step(
      FAULT_NAN_AT_STEP)

  result = {"step": start}
  pending = None  # (step, metrics on device): fetched after the next dispatch
  last_loss = float("nan")
  window_start, window_steps = time.perf_counter(), 0

  def flush(pending):
    nonlocal last_loss, window_start, window_steps
    step, metrics = pending
    host = {k_: float(v) for k_, v in jax.device_get(metrics).items()}
    if not math.isfinite(host["loss_bits"]):
      raise NonFiniteLossError(
          f"non-finite training loss ({host['loss_bits']}) at step {step}; stopping. "
          f"The last good checkpoint is kept in {ckpt.directory}. Lower "
          f"optimizer.learning_rate or set optimizer.grad_clip_norm.")
    last_loss = host["loss_bits"]
    if (step + 1) % config.log_every == 0 or step + 1 == config.num_steps:
      elapsed = time.perf_counter() - window_start
      rate = targets_per_step * window_steps / max(elapsed, 1e-9)
      host.update(targets_per_s=rate, audio_seconds_per_s=rate / SAMPLE_RATE,
                  step_time_s=elapsed / max(window_steps, 1))
      writer.write(step + 1, host)
      window_start, window_steps = time.perf_counter(), 0

  def validate(step):
    metrics = validator(state.params)
    writer.write(step, metrics, prefix="validation")
    writer.print(f"step {step}: validation {metrics['nll_bits']:.3f} ± "
                 f"{metrics['nll_ci95']:.3f} bits/sample (references: previous "
                 f"sample {metrics['previous_sample_bits']:.3f}, marginal "
                 f"{metrics['marginal_bits']:.3f})")
    return metrics

  try:
    with _sigterm_flag() as sigterm:
      for step in range(start, config.num_steps):
        if sigterm.is_set():
          if pending:
            flush(pending)
            pending = None
          ckpt.save(step, state, data_iter, config_dict, force=True)
          ckpt.wait()
          writer.print(f"SIGTERM: saved step {step}, exiting")
          result.update(step=step, preempted=True)
          break
        if step == prof.start_step and proc == 0:
          jax.profiler.start_trace(profile_dir)
          profiling = True
        if step == nan_at:
          state = state.replace(params=jax.tree.map(lambda x: x * np.float32("nan"),
                                                    state.params))
        batch = _global_batch(next(data_iter)["codes"], batch_sharding)
        with jax.profiler.StepTraceAnnotation("train", step_num=step):
          state, metrics = compiled(state, batch, dropout_rng)
        window_steps += 1
        if pending:
          flush(pending)
        pending = (step, metrics)
        writer.advance()
        if profiling and step + 1 >= prof.start_step + prof.num_steps:
          jax.block_until_ready(state)
          jax.profiler.stop_trace()
          profiling = False
          writer.print(f"profile of steps {prof.start_step}-{step} in {profile_dir}")
        done = step + 1
        if done % config.checkpoint_every == 0 or done == config.num_steps:
          flush(pending)  # never checkpoint a state whose loss was not checked
          pending = None
          ckpt.save(done, state, data_iter, config_dict,
                    force=done == config.num_steps)
          if done == kill_after:
            ckpt.wait()
            os.kill(os.getpid(), signal.SIGKILL)
        if config.eval_every and done % config.eval_every == 0 \
            and done != config.num_steps:
          validate(done)
      else:
        if pending:
          flush(pending)
        result["step"] = config.num_steps
        result["validation"] = validate(config.num_steps)
  finally:
    if profiling:
      jax.profiler.stop_trace()
    ckpt.close()
    writer.close()
    if hasattr(data_iter, "close"):
      data_iter.close()
  result["train_loss_bits"] = last_loss
  if proc == 0 and "validation" in result:
    with open(os.path.join(workdir, "final_metrics.json"), "w") as f:
      json.dump(result, f, indent=2)
  return result
