"""Orbax checkpoints of the train state, the Grain iterator and the config, together.

Saves are asynchronous. Every step also holds the checksums of its arrays
(`integrity.py`); `restore_newest_intact` resumes from the newest step that reads
back whole, setting damaged ones aside (`checkpoints/reading.py`'s `load_params`,
what every reader of a finished run uses, refuses a damaged step). A
workdir whose saved model config differs from the current one is refused
(`CheckpointMismatchError`), so a checkpoint is never silently overwritten by a run
of another model. A save that fails (a full disk) raises `CheckpointWriteError`
naming the directory, the step and the free space, after removing its partial files.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import logging
import os
import shutil
from typing import Any, Callable

import grain
import jax
import orbax.checkpoint as ocp

from audiolm_jax.checkpoints import integrity
from audiolm_jax.checkpoints.integrity import DamagedCheckpointError
from audiolm_jax.checkpoints.reading import ignore_late_reads, read_integrity, reason
from audiolm_jax.data import recipes


class CheckpointMismatchError(ValueError):
  """The workdir holds checkpoints of a different model."""


class CheckpointWriteError(OSError):
  """A checkpoint could not be written (for instance, the disk is full)."""


def _is_disk_full(error: BaseException) -> bool:
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
      return True
    if _is_disk_full_text(str(error)):
      return True
    error = error.__cause__ or error.__context__
  return False


def _free_bytes(directory: str) -> int | None:
  try:
    return shutil.disk_usage(directory).free
  except OSError:
    return None


class _DropWriteFailureNoise(logging.Filter):
  """Drops Orbax's own reports of a write that failed for lack of space (a
  traceback from each of its background threads); `CheckpointWriteError` says it
  once."""

  def filter(self, record: logging.LogRecord) -> bool:
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
      text += str(record.exc_info[1])
    return not (record.levelno >= logging.ERROR and (
        _is_disk_full_text(text) or any(s in text for s in _FAILED_SAVE_SUMMARIES)))


_WRITE_FAILURE_NOISE = _DropWriteFailureNoise()


def _is_disk_full_text(text: str) -> bool:
  return any(s in text for s in ("No space left", "ENOSPC", "os_error_code='28'"))


# Orbax's summaries of a failed background save, logged besides its cause.
_FAILED_SAVE_SUMMARIES = ("Save Finalize thread", "Handler Commit operations")


class Checkpointer:
  """One run's CheckpointManager under `{workdir}/checkpoints`."""

  def __init__(self, workdir: str, *, keep: int, every: int):
    self.workdir = os.path.abspath(workdir)
    self.directory = os.path.join(self.workdir, "checkpoints")
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep, save_interval_steps=every,
            enable_async_checkpointing=True, create=True))
    self._writing = None  # the step whose asynchronous save may still be running
    self._failed = False  # a write failed: close() does not wait on it again
    logging.getLogger("absl").addFilter(_WRITE_FAILURE_NOISE)  # until close()

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def saved_config(self, step: int) -> dict:
    restored = self.manager.restore(
        step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
    return restored["config"]

  def check_compatible(self, step: int, config: dict) -> dict:
    """The step's saved config; raises CheckpointMismatchError if its model,
    objective or recipe differs from `config`'s."""
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
    saved_recipe = recipes.of_data(saved.get("data"))
    recipe = recipes.of_data(config.get("data"))
    if saved_recipe != recipe:
      diffs.append(f"data.recipe: checkpoint {saved_recipe!r}, config {recipe!r} "
                   f"(the codes it learned)")
    if diffs:
      raise CheckpointMismatchError(
          f"{self.directory} holds checkpoints (latest step {step}) of another "
          f"model:\n  " + "\n  ".join(diffs) + "\nUse a new --workdir, or the config "
          "that trained it.")
    return saved

  def save(self, step: int, state: Any, data_iterator, config: dict, *,
           force: bool = False) -> bool:
    """Starts an asynchronous save of step `step` (with its arrays' checksums)."""
    if not (force or self.manager.should_save(step)):
      return False
    record = integrity.checksums(state)
    self._check_space(step, state)
    with self._writes(step):
      saved = self.manager.save(
          step, args=ocp.args.Composite(
              state=ocp.args.StandardSave(state),
              data=grain.checkpoint.CheckpointSave(data_iterator),
              config=ocp.args.JsonSave(config),
              integrity=ocp.args.JsonSave(record)), force=force)
    if saved:
      self._writing = step
    return saved

  def _check_space(self, step: int, state: Any) -> None:
    """Refuses a save that cannot fit before writing any of it: a write that fails
    halfway leaves Orbax's background threads printing tracebacks. The need is the
    newest saved step's size (or the state's bytes) with a 10 % margin."""
    self.wait()  # the previous save's bytes are on disk and counted
    latest = self.manager.latest_step()
    need = (_tree_bytes(self.step_dir(latest)) if latest is not None
            else sum(x.nbytes for x in jax.tree.leaves(state)) + (256 << 10))
    need = int(need * 1.1)
    free = _free_bytes(self.directory)
    if free is not None and free < need:
      raise self._write_error(step, f"the disk is full ({free / 2**20:.1f} MiB "
                                    f"free, {need / 2**20:.1f} MiB needed)")

  def _write_error(self, step: int, what: str) -> CheckpointWriteError:
    """The one message of a checkpoint that could not be written."""
    kept = self.manager.latest_step()
    return CheckpointWriteError(
        f"could not write the checkpoint of step {step} to {self.directory}: {what}. "
        + (f"Step {kept} is kept and resumes the run" if kept is not None
           else "No earlier step was saved")
        + "; free space (or point --workdir elsewhere) and run again.")

  def step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def restore(self, step: int, abstract_state: Any, data_iterator) -> Any:
    """Restores the state (with the shardings of `abstract_state`) and, in place,
    the iterator's position (unless data_iterator is None); raises
    DamagedCheckpointError if the step does not read back as it was saved."""
    items = {"state": ocp.args.StandardRestore(abstract_state)}
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
    integrity.check_metadata(self.step_dir(step), step)
    ignore_late_reads()
    try:
      state = self.manager.restore(step, args=ocp.args.Composite(**items))["state"]
    except Exception as e:  # pylint: disable=broad-except  (any unreadable file)
      raise DamagedCheckpointError(step, self.step_dir(step), reason(e)) from e
    integrity.verify(state, read_integrity(self.step_dir(step), step), step=step,
                     path=self.step_dir(step))
    return state

  def restore_newest_intact(self, abstract_state: Any, data_iterator, config: dict,
                            say: Callable[[str], None]
                            ) -> tuple[int, Any, int | None] | None:
    """(step, state, the process count that saved it) of the newest step that is
    compatible and reads back whole, or None when there are no steps. The data
    iterator is restored in place only when that count is this run's.

    Newer damaged steps are moved to {workdir}/damaged_checkpoints (never deleted),
    each with a line through `say`. A step of another model raises
    CheckpointMismatchError; if every step is damaged, nothing is moved and
    DamagedCheckpointError lists them.
    """
    damaged = []
    for step in reversed(self.all_steps()):
      try:
        try:
          integrity.check_metadata(self.step_dir(step), step)
          saved = self.check_compatible(step, config)
          saved_procs = saved.get("runtime", {}).get("process_count")
        except (CheckpointMismatchError, DamagedCheckpointError):
          raise
        except Exception as e:  # pylint: disable=broad-except  (unreadable config)
          raise DamagedCheckpointError(step, self.step_dir(step), reason(e)) from e
        same = saved_procs == config.get("runtime", {}).get("process_count")
        state = self.restore(step, abstract_state, data_iterator if same else None)
      except DamagedCheckpointError as e:
        damaged.append(e)
        continue
      for bad in damaged:
        moved = integrity.set_aside(bad.path, self.workdir)
        say(f"{bad}; moved it to {moved} and resumed from step {step}, the newest "
            f"intact one")
      if damaged:
        self.manager.reload()
      return step, state, saved_procs
    if damaged:
      raise DamagedCheckpointError(
          None, self.directory,
          "no checkpoint step reads back whole:\n  " + "\n  ".join(str(e) for e in damaged)
          + "\nNothing was moved or deleted. Start over with a new --workdir.")
    return None

  @contextlib.contextmanager
  def _writes(self, step: int):
    """Turns a failed write (of `step` or of the save still in flight) into one
    CheckpointWriteError, after removing the partial temporary folders."""
    try:
      yield
    except Exception as e:  # pylint: disable=broad-except
      failed = self._writing if self._writing is not None else step
      self._writing, self._failed = None, True
      for partial in glob.glob(os.path.join(self.directory, "*.orbax-checkpoint-tmp*")):
        shutil.rmtree(partial, ignore_errors=True)
      free = _free_bytes(self.directory)
      what = "the disk is full" if _is_disk_full(e) else reason(e)
      self.manager.reload()
      raise self._write_error(failed, f"{what} ("
                              + ("unknown" if free is None else
                                 f"{free / 2**20:.1f} MiB") + " free)") from None

  def wait(self) -> None:
    with self._writes(self._writing or 0):
      self.manager.wait_until_finished()
    self._writing = None

  def close(self) -> None:
    """Waits for the save in flight (unless a write already failed) and closes."""
    try:
      if not self._failed:
        self.wait()
    finally:
      with contextlib.suppress(Exception):
        self.manager.close()
      logging.getLogger("absl").removeFilter(_WRITE_FAILURE_NOISE)


def _tree_bytes(path: str) -> int:
  total = 0
  for root, _, files in os.walk(path):
    for name in files:
      with contextlib.suppress(OSError):
        total += os.path.getsize(os.path.join(root, name))
  return total


def _canon(value):
  # Tuples from the config and lists from JSON compare equal.
  return json.loads(json.dumps(value))
