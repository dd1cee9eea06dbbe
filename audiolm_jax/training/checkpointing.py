"""Orbax checkpoints of the train state, the Grain iterator and the config, together.

Saves are asynchronous; `latest_step` / `restore` resume a run. A workdir whose saved
model config differs from the current one is refused (`CheckpointMismatchError`), so
a checkpoint is never silently overwritten by a run of another model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Any

import grain
import orbax.checkpoint as ocp


class CheckpointMismatchError(ValueError):
  """The workdir holds checkpoints of a different model."""


class Checkpointer:
  """One run's CheckpointManager under `{workdir}/checkpoints`."""

  def __init__(self, workdir: str, *, keep: int, every: int):
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, save_interval_steps=every,
            enable_async_checkpointing=True, create=True))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def saved_config(self, step: int) -> dict:
    restored = self.manager.restore(
        step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
    return restored["config"]

  def check_compatible(self, step: int, config: dict) -> None:
    """Raises CheckpointMismatchError if the saved model, objective or recipe differs."""
    saved = self.saved_config(step)
    if "model" not in saved:
      raise CheckpointMismatchError(f"{self.directory} holds checkpoints that were not "
                                    f"written by audiolm_jax; use a new --workdir")
    # A field the checkpoint lacks did not exist when it was written (its run used
    # what is now that field's default, e.g. model.name = the paper's model).
    diffs = [f"model.{k}: checkpoint {saved['model'].get(k)!r}, config {v!r}"
             for k, v in config["model"].items()
             if k in saved["model"] and _canon(saved["model"][k]) != _canon(v)]
    if saved.get("objective") != config.get("objective"):
      diffs.append(f"objective: checkpoint {saved.get('objective')!r}, config "
                   f"{config.get('objective')!r}")
    saved_recipe = saved.get("data", {}).get("recipe", "mu_law")
    recipe = config.get("data", {}).get("recipe", "mu_law")
    if saved_recipe != recipe:
      diffs.append(f"data.recipe: checkpoint {saved_recipe!r}, config {recipe!r} "
                   f"(the codes it learned)")
    if diffs:
      raise CheckpointMismatchError(
          f"{self.directory} holds checkpoints (latest step {step}) of another "
          f"model:\n  " + "\n  ".join(diffs) + "\nUse a new --workdir, or the config "
          "that trained it.")

  def save(self, step: int, state: Any, data_iterator, config: dict, *,
           force: bool = False) -> bool:
    return self.manager.save(
        step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=grain.checkpoint.CheckpointSave(data_iterator),
            config=ocp.args.JsonSave(config)), force=force)

  def restore(self, step: int, abstract_state: Any, data_iterator) -> Any:
    """Restores the state (with the shardings of `abstract_state`) and, in place,
    the iterator's position (unless data_iterator is None)."""
    items = {"state": ocp.args.StandardRestore(abstract_state)}
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
    return self.manager.restore(step, args=ocp.args.Composite(**items))["state"]

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


def _canon(value):
  # Tuples from the config and lists from JSON compare equal.
  return json.loads(json.dumps(value))


# What Orbax logs, at WARNING, every time a finished run is opened read-only as
# `load_params` opens it: the read-only options it was given, and an item folder's
# missing metadata file (Orbax writes it per step, then looks for it per item). Each
# `evaluate` and `sample` call printed all three.
_READ_ONLY_NOISE = ("CheckpointManagerOptions.read_only=True",
                    "Given directory is read only",
                    "Metadata file does not exist")


class _DropReadOnlyNoise(logging.Filter):
  def filter(self, record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not any(noise in message for noise in _READ_ONLY_NOISE)


@contextlib.contextmanager
def _quiet_read_only_open():
  """Drops `_READ_ONLY_NOISE` from Orbax's (absl) logger while inside; other
  warnings and every error still show."""
  logger, drop = logging.getLogger("absl"), _DropReadOnlyNoise()
  logger.addFilter(drop)
  try:
    yield
  finally:
    logger.removeFilter(drop)


def load_params(workdir: str, step: int | None = None) -> tuple[dict, Any, int]:
  """(saved config, parameters on this process's first device, step) of a run.

  Reads only finished checkpoints (Orbax ignores half-written ones); raises
  FileNotFoundError with what to do when there is none.
  """
  directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"no checkpoints in {workdir}: train first with "
                            f"`python -m audiolm_jax.train --workdir {workdir} ...`")
  with _quiet_read_only_open():
    return _load_params(directory, step)


def _load_params(directory: str, step: int | None) -> tuple[dict, Any, int]:
  import jax  # pylint: disable=g-import-not-at-top
  manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
      create=False, read_only=True))
  steps = manager.all_steps()
  if not steps:
    raise FileNotFoundError(f"{directory} holds no complete checkpoint (half-written "
                            f"ones are ignored); train longer or resume the run")
  if step is None:
    step = max(steps)
  elif step not in steps:
    raise FileNotFoundError(f"no checkpoint of step {step} in {directory}; it has "
                            f"{sorted(steps)}")
  config = manager.restore(step, args=ocp.args.Composite(
      config=ocp.args.JsonRestore()))["config"]
  path = os.path.join(directory, str(step), "state")
  checkpointer = ocp.StandardCheckpointer()
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype,
                                                       sharding=device),
                        checkpointer.metadata(path).item_metadata.tree)
  params = checkpointer.restore(path, target)["params"]
  manager.close()
  return config, params, step
