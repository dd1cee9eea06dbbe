"""`train_and_evaluate(config, workdir)`: the whole training run, importable.

It reads as its steps: data, model and sharded step, restore or init, compile, the
loop, final validation. Data parallel over a ("data",) mesh (`sharding.py`); metrics
fetched a step late so logging never stalls the device; checkpoints hold the state,
the Grain iterator, the config and their checksums, and a resume starts from the
newest intact one; process 0 holds the workdir's lock for the whole run; SIGTERM and
a first Ctrl-C save and return; a non-finite loss stops the run and keeps the last
good checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time

import jax
import ml_collections
from jax.experimental import multihost_utils

from audiolm_jax import strict_json
from audiolm_jax.data import datasets, pipeline, recipes
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.evaluation import schema
from audiolm_jax.evaluation.references import References
from audiolm_jax.models.interface import count_params
from audiolm_jax.models.interface import AudioModel
from audiolm_jax.training import config as train_config
from audiolm_jax.training import faults as fault_injection, hooks
from audiolm_jax.training.workdir_lock import WorkdirLock
from audiolm_jax.training.checkpointing import Checkpointer
from audiolm_jax.training.metrics import MetricWriter
from audiolm_jax.training.sharding import ShardedStep, data_mesh, global_batch
from audiolm_jax.training.validation import Validator

# Re-exported: tests and drills set them.
FAULT_KILL_AFTER_CHECKPOINT = fault_injection.FAULT_KILL_AFTER_CHECKPOINT
FAULT_NAN_AT_STEP = fault_injection.FAULT_NAN_AT_STEP
FAULT_INF_GRAD_AT_STEP = fault_injection.FAULT_INF_GRAD_AT_STEP
FAULT_KILL_AT_STEP = fault_injection.FAULT_KILL_AT_STEP


class NonFiniteError(FloatingPointError):
  """The training loss, a gradient or an updated parameter became NaN or infinite."""


@dataclasses.dataclass
class _Data:
  path: str                          # the built dataset
  pipeline: pipeline.PipelineConfig  # this process's training stream


def _prepare_data(config, model: AudioModel) -> _Data:
  """Builds the dataset (process 0); `validate` matched the recipe to the model."""
  spec = train_config.to_dataset_spec(config)
  data_dir = train_config.data_dir(config)
  if jax.process_index() == 0:
    datasets.build(spec, data_dir)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices("dataset built")
  path = datasets.dataset_dir(spec, data_dir)
  return _Data(path, pipeline.PipelineConfig(
      path=path, split="train", recipe=config.data.recipe,
      context=model.window_context,
      num_targets=train_config.window_targets(config), stream=model.stateful,
      batch_size=config.batch_size // jax.process_count(), seed=config.seed,
      worker_count=config.data.worker_count, prefetch=config.data.prefetch,
      gain_db=tuple(config.data.get("gain_db", ()) or ()) or None))


def _open_stream(data: _Data, start_example: int = 0):
  return iter(pipeline.train_dataset(data.pipeline, process_index=jax.process_index(),
                                     process_count=jax.process_count(),
                                     start_example=start_example))


def _restore_or_init(ckpt: Checkpointer, sharded: ShardedStep, data: _Data,
                     config, config_dict: dict, init_rng, say):
  """(state, data iterator, message): the newest intact checkpoint's, or fresh ones.

  Damaged newer steps are set aside with a line through `say` (checkpointing.py).
  """
  data_iter = _open_stream(data)
  found = ckpt.restore_newest_intact(sharded.abstract_state, data_iter, config_dict,
                                     say)
  if found is None:
    state = jax.jit(sharded.init, out_shardings=sharded.state_sharding)(init_rng)
    return state, data_iter, None
  step, state, saved_procs = found
  if saved_procs != jax.process_count():
    # Example j of the global stream does not depend on the process count, so the
    # stream restarts exactly at the first example step `step` had not read.
    _close(data_iter)
    data_iter = _open_stream(data, start_example=step * config.batch_size)
  message = (f"resumed from step {step} in {ckpt.directory}"
             + (f" (written by {saved_procs} processes)"
                if saved_procs != jax.process_count() else ""))
  return state, data_iter, message


def _close(data_iter) -> None:
  if hasattr(data_iter, "close"):
    data_iter.close()


def _log_compiled(compiled, writer: MetricWriter, batch_size: int, targets: int):
  """Logs the compiled step's memory and FLOPs (per device and per target)."""
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
  try:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost["flops"]) if cost and "flops" in cost else None
  except Exception:  # pylint: disable=broad-except
    flops = None
  if flops:
    lines.append(f"compiled step: {flops / 1e9:.2f} GFLOP per step (per device), "
                 f"{flops * jax.device_count() / (batch_size * targets) / 1e6:.1f}"
                 f" MFLOP per target")
  for line in lines:
    logging.info(line)
    writer.print(line)


class _TrainMetrics:
  """Step metrics fetched one step late (the device never waits for the host)."""

  def __init__(self, writer: MetricWriter, config, ckpt_dir: str):
    self.writer, self.ckpt_dir = writer, ckpt_dir
    self.log_every, self.num_steps = config.log_every, config.num_steps
    self.targets_per_step = config.batch_size * train_config.window_targets(config)
    self.pending = None  # (step, metrics on device)
    self.last_loss = float("nan")
    self.window_start, self.window_steps = time.perf_counter(), 0

  def push(self, step: int, metrics) -> None:
    """Records step's metrics and fetches the previous step's."""
    self.window_steps += 1
    self.flush()
    self.pending = (step, metrics)

  def flush(self) -> None:
    """Fetches and checks the pending metrics; logs them on log steps."""
    if self.pending is None:
      return
    step, metrics = self.pending
    self.pending = None
    host = {k: float(v) for k, v in jax.device_get(metrics).items()}
    bad = [what for what, ok in (
        (f"training loss ({host['loss_bits']})", math.isfinite(host["loss_bits"])),
        (f"gradient (global norm {host['grad_norm']})",
         math.isfinite(host["grad_norm"])),
        ("updated parameters", host["params_finite"] == 1.0)) if not ok]
    if bad:
      raise NonFiniteError(
          f"non-finite {', '.join(bad)} at step {step}; stopping before that state "
          f"is saved. The last good checkpoint is kept in {self.ckpt_dir}. Lower "
          f"optimizer.learning_rate, set optimizer.grad_clip_norm, or train in "
          f"float32 (model.dtype).")
    self.last_loss = host["loss_bits"]
    if (step + 1) % self.log_every == 0 or step + 1 == self.num_steps:
      elapsed = time.perf_counter() - self.window_start
      rate = self.targets_per_step * self.window_steps / max(elapsed, 1e-9)
      host.update(targets_per_s=rate, audio_seconds_per_s=rate / SAMPLE_RATE,
                  step_time_s=elapsed / max(self.window_steps, 1))
      self.writer.write(step + 1, host)
      self.window_start, self.window_steps = time.perf_counter(), 0


def describe_validation(v: dict) -> str:
  """One line of a validation score (`evaluation/schema.py`)."""
  refs = v["references"]
  return (f"validation {v['nll_bits']:.3f} ± {v['ci95_bits']:.3f} bits/sample over "
          f"{v['samples']:,} targets (references: linear prediction "
          f"{refs['linear_prediction']:.3f}, previous sample "
          f"{refs['previous_sample']:.3f}, marginal {refs['marginal']:.3f})")


def _log_validation(validator: Validator, params, step: int,
                    writer: MetricWriter) -> dict:
  """Scores the validation windows, logs and prints the score; returns it."""
  result = validator.run(params)
  writer.write(step, schema.flat(result), prefix="validation")
  writer.print(f"step {step}: {describe_validation(result)}")
  return result


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains (or resumes) the configured model in `workdir`; returns final metrics.

  Returns {"step", "train_loss_bits", "validation": {...}} and, if the run stopped on
  SIGTERM or Ctrl-C, "preempted": True (and "interrupted": True for Ctrl-C). Raises
  WorkdirBusyError if another train process holds the workdir.
  """
  model = train_config.checked_model(config, jax.device_count(),
                                     jax.process_count())
  config_dict = json.loads(config.to_json())
  # Saved beside the config: a restore on another process count rebuilds the data
  # stream's position instead of restoring per-process iterator states.
  config_dict["runtime"] = {"process_count": jax.process_count()}
  os.makedirs(workdir, exist_ok=True)
  is_chief = jax.process_index() == 0
  notes = []  # lines for the log, printed once it is open
  lock = WorkdirLock(workdir)
  if is_chief and (took_over := lock.acquire()):
    notes.append(took_over)
  try:
    return _train(config, workdir, model, config_dict, notes)
  finally:
    lock.release()


def _train(config, workdir: str, model: AudioModel, config_dict: dict,
           notes: list[str]) -> dict:
  is_chief = jax.process_index() == 0
  data = _prepare_data(config, model)
  init_rng, dropout_rng = jax.random.split(jax.random.key(config.seed))
  faults = fault_injection.Faults()
  sharded = ShardedStep.build(config, model, data_mesh(), init_rng)
  ckpt = Checkpointer(workdir, keep=config.keep_checkpoints,
                      every=config.checkpoint_every)
  state, data_iter, resumed = _restore_or_init(ckpt, sharded, data, config,
                                               config_dict, init_rng, notes.append)
  start = int(state.step)
  # From `start` on, the logs are rewritten: nothing logged after the checkpoint
  # (by a run that then crashed) appears twice.
  writer = MetricWriter(workdir, total_steps=config.num_steps, initial_step=start,
                        enabled=is_chief)
  for line in notes + ([resumed] if resumed else []):
    writer.print(line)
  writer.print(f"model: {model.name}, {count_params(state.params):,} parameters; "
               f"{jax.device_count()} device(s) in {jax.process_count()} "
               f"process(es); dataset {data.path}")
  compiled = sharded.compile(config.batch_size, dropout_rng)
  # The gradient-overflow drill's step: compiled apart, run at its one step.
  drill = faults.drill_step(lambda m: ShardedStep.build(
      config, m, sharded.batch_sharding.mesh, init_rng).compile(config.batch_size,
                                                                dropout_rng), model)
  _log_compiled(compiled, writer, config.batch_size, data.pipeline.num_targets)
  validator = Validator(config, data.path, model, sharded.batch_sharding.mesh,
                        sharded.batch_sharding,
                        References.fit(pipeline.FlatSplit(data.path, "train",
                                                          data.pipeline.recipe),
                                       recipes.quantization_of(data.pipeline.recipe)),
                        recipe=data.pipeline.recipe)

  metrics = _TrainMetrics(writer, config, ckpt.directory)
  profile = hooks.ProfileWindow(os.path.join(workdir, "profile"),
                                config.profile.start_step, config.profile.num_steps,
                                enabled=is_chief)
  result = {"step": start}
  preemption = hooks.Preemption()
  saved_step = start
  try:
    for step in range(start, config.num_steps):
      if preemption.reached(step):
        metrics.flush()
        if step != saved_step:
          ckpt.save(step, state, data_iter, config_dict, force=True)
        ckpt.wait()
        writer.print(f"{preemption.signal_name}: saved step {step}, exiting")
        result.update(step=step, preempted=True)
        if preemption.interrupted:
          result["interrupted"] = True
        break
      profile.before(step)
      state = faults.before_step(step, state)
      batch = global_batch(next(data_iter), sharded.batch_sharding)
      with jax.profiler.StepTraceAnnotation("train", step_num=step):
        state, step_metrics = faults.step(step, compiled, drill)(state, batch,
                                                                  dropout_rng)
      metrics.push(step, step_metrics)
      faults.after_step(step, ckpt)
      writer.advance()
      if message := profile.after(step, state):
        writer.print(message)
      done = step + 1
      if done % config.checkpoint_every == 0 or done == config.num_steps:
        metrics.flush()  # never checkpoint a state whose loss was not checked
        ckpt.save(done, state, data_iter, config_dict,
                  force=done == config.num_steps)
        saved_step = done
        faults.after_checkpoint(done, ckpt)
      if config.eval_every and done % config.eval_every == 0 \
          and done != config.num_steps:
        _log_validation(validator, state.params, done, writer)
    else:
      metrics.flush()
      result["step"] = config.num_steps
      result["validation"] = _log_validation(validator, state.params,
                                              config.num_steps, writer)
  finally:
    preemption.close()
    profile.close()
    ckpt.close()
    writer.close()
    _close(data_iter)
  result["train_loss_bits"] = metrics.last_loss
  if is_chief and "validation" in result:
    strict_json.write(os.path.join(workdir, "final_metrics.json"), result)
  return result
