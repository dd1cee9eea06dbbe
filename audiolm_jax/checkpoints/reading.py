"""Reading a finished run's checkpoints without training's machinery: the saved
config and the parameters of one step, checked against the step's checksums
(`integrity.py`). `checkpoints/run.py` builds every reader's view of a run on it;
`training/checkpointing.py` writes the steps and resumes from them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
from typing import Any

import jax
import orbax.checkpoint as ocp

from audiolm_jax.checkpoints import integrity
from audiolm_jax.checkpoints.integrity import DamagedCheckpointError


def reason(error: BaseException) -> str:
  """One line for an Orbax/TensorStore failure: its type and the first line."""
  text = str(error).strip().splitlines()
  first = text[0] if text else ""
  return f"{type(error).__name__}: {first[:300]}"


def _is_late_read(error: BaseException | None) -> bool:
  return isinstance(error, RuntimeError) and str(error) == "Event loop is closed"


class _DropUnretrievedReads(logging.Filter):
  """Drops asyncio's "Task exception was never retrieved" for a read that failed
  with a TensorStore status (DATA_LOSS: ..., NOT_FOUND: ...): the restore that
  started it has already failed with the first such error."""

  def filter(self, record: logging.LogRecord) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    return not (record.getMessage().startswith("Task exception was never retrieved")
                and error is not None and re.match(r"[A-Z_]+: ", str(error)))


_UNRETRIEVED_READS = _DropUnretrievedReads()


def ignore_late_reads() -> None:
  """When a restore fails, TensorStore still completes that restore's other reads,
  and each completion posts to Orbax's asyncio loop, closed by then: Python prints
  a traceback of RuntimeError("Event loop is closed") for every one (dozens per
  damaged step, on stderr, besides the DamagedCheckpointError that names the
  damage), through sys.excepthook or sys.unraisablehook. Called before a restore
  (the late reads may land before its error reaches the caller), this drops
  exactly those, and asyncio's reports of the same reads' errors at exit; everything
  else still goes to the hooks that were there before."""
  logging.getLogger("asyncio").addFilter(_UNRETRIEVED_READS)  # no-op when there
  # Each hook is checked on its own: a test runner swaps sys.unraisablehook per
  # test phase.
  if not getattr(sys.excepthook, "_drops_late_reads", False):
    previous_except = sys.excepthook

    def excepthook(kind, error, traceback):
      if not _is_late_read(error):
        previous_except(kind, error, traceback)

    excepthook._drops_late_reads = True  # pylint: disable=protected-access
    sys.excepthook = excepthook
  if not getattr(sys.unraisablehook, "_drops_late_reads", False):
    previous_unraisable = sys.unraisablehook

    def unraisablehook(unraisable):
      if not _is_late_read(unraisable.exc_value):
        previous_unraisable(unraisable)

    unraisablehook._drops_late_reads = True  # pylint: disable=protected-access
    sys.unraisablehook = unraisablehook


def read_integrity(step_dir: str, step: int) -> dict:
  """The step's checksum record (DamagedCheckpointError where it is missing or
  unreadable)."""
  folder = os.path.join(step_dir, "integrity")
  if not os.path.isdir(folder):
    raise DamagedCheckpointError(step, step_dir, integrity.NO_RECORD)
  try:
    with open(os.path.join(folder, "metadata")) as f:  # JsonSave's file
      return json.load(f)
  except Exception as e:  # pylint: disable=broad-except
    raise DamagedCheckpointError(step, step_dir, f"its checksum record is unreadable "
                                 f"({reason(e)})") from e


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
  manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
      create=False, read_only=True))
  steps = sorted(manager.all_steps())
  manager.close()
  if not steps:
    raise FileNotFoundError(f"{directory} holds no complete checkpoint (half-written "
                            f"ones are ignored); train longer or resume the run")
  if step is None:
    step = steps[-1]
  elif step not in steps:
    raise FileNotFoundError(f"no checkpoint of step {step} in {directory}; it has "
                            f"{steps}")
  step_dir = os.path.join(directory, str(step))
  try:
    integrity.check_metadata(step_dir, step)
    try:
      with open(os.path.join(step_dir, "config", "metadata")) as f:
        config = json.load(f)
      path = os.path.join(step_dir, "state")
      ignore_late_reads()  # before Orbax reads the index: reading it starts them
      checkpointer = ocp.StandardCheckpointer()
      device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
      saved = checkpointer.metadata(path).item_metadata
      if saved is None:  # Orbax reads its array index from the data files
        raise DamagedCheckpointError(step, step_dir, "the index of its arrays under "
                                     "state/ cannot be read (its data files were "
                                     "altered)")
      target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype,
                                                           sharding=device),
                            saved.tree)
      params = checkpointer.restore(path, target)["params"]
    except DamagedCheckpointError:
      raise
    except Exception as e:  # pylint: disable=broad-except  (any unreadable file)
      raise DamagedCheckpointError(step, step_dir, reason(e)) from e
    integrity.verify(params, read_integrity(step_dir, step), step=step,
                     path=step_dir, prefix="params/")
  except DamagedCheckpointError as e:
    others = [s for s in steps if s != step]
    raise DamagedCheckpointError(
        step, step_dir, e.reason + (f". Pass --step with another step ({others})"
                                    if others else ". It is the run's only step: "
                                    "train again")) from None
  return config, params, step
