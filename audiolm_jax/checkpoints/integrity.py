"""Checkpoint integrity: a checksum of every array a step holds, checked on restore.

Orbax stores arrays in OCDBT data files without checksums of their own: flipped bytes
in a data file restore as a silently different model. So each saved step carries an
`integrity` item, {key path: "sha256:<hex> <dtype> <shape>"} of the state's arrays,
computed on the host from the same values Orbax writes. A restore recomputes the
checksums of what it read and compares; any difference, a missing or unreadable item,
or a non-finite value (the loop never saves one) makes the step *damaged*. A step with
no record at all (its `integrity/` folder removed, or saved before records existed)
is damaged too, by name: without one, altered data files cannot be told from intact
ones.

Arrays sharded across processes (a stateful model's carry in a multi-process run) are
not fully addressable from one process; they are recorded as unchecked.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any

import jax
import numpy as np

FORMAT = 1
UNCHECKED = "unchecked: sharded across processes"


class DamagedCheckpointError(ValueError):
  """A checkpoint step that cannot be trusted: unreadable, altered, or non-finite."""

  def __init__(self, step: int | None, path: str, reason: str):
    self.step, self.path, self.reason = step, path, reason
    super().__init__(f"checkpoint step {step} in {path} is damaged: {reason}"
                     if step is not None else f"{path}: {reason}")


def _key(path) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))))
                  for k in path)


def _digest(x: np.ndarray) -> str:
  x = np.ascontiguousarray(x)
  return f"sha256:{hashlib.sha256(x.tobytes()).hexdigest()} {x.dtype} {list(x.shape)}"


def _host(leaf) -> np.ndarray | None:
  if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
    return None
  return np.asarray(jax.device_get(leaf))


def checksums(tree: Any) -> dict:
  """{"format", "arrays": {key path: digest}} of every array leaf of `tree`."""
  arrays = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    host = _host(leaf)
    arrays[_key(path)] = UNCHECKED if host is None else _digest(host)
  return {"format": FORMAT, "arrays": arrays}


NO_RECORD = ("it has no checksum record (integrity/), so altered data files could "
             "not be told from intact ones; steps saved before checksums existed "
             "have none either")


def verify(tree: Any, record: dict, *, step: int, path: str, prefix: str = "") -> None:
  """Raises DamagedCheckpointError unless `tree` (restored from step `step` at `path`)
  matches `record` and holds only finite values.

  `prefix` names the subtree restored ("params/" when only parameters were read);
  its leaves are compared with the record's entries under that prefix.
  """
  expected = record.get("arrays") if isinstance(record, dict) else None
  if expected is None:
    raise DamagedCheckpointError(step, path, NO_RECORD)
  for key_path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    key = prefix + _key(key_path)
    host = _host(leaf)
    if host is None:
      continue
    if np.issubdtype(host.dtype, np.floating) and not np.isfinite(host).all():
      raise DamagedCheckpointError(step, path, f"array {key} holds non-finite values "
                                   f"(training never saves them)")
    want = expected.get(key)
    if want is None:
      raise DamagedCheckpointError(step, path, f"array {key} is not in its checksum "
                                   f"record")
    if want != UNCHECKED and want != _digest(host):
      raise DamagedCheckpointError(
          step, path, f"array {key} does not match the checksum saved with it (the "
          f"data files under {os.path.join(path, 'state')} were altered)")


# The JSON files Orbax needs to read a step back (the step's, its state's tree and
# shardings, its config, its checksum record); the data iterator's lives under data/.
METADATA_FILES = ("_CHECKPOINT_METADATA", "state/_METADATA", "state/_sharding",
                  "config/metadata", "integrity/metadata")
# Absent from some valid steps: _sharding where only host arrays were saved. A step
# without its record folder is damaged by name (`NO_RECORD`), below.
OPTIONAL = ("state/_sharding",)


def check_metadata(step_dir: str, step: int) -> None:
  """Raises DamagedCheckpointError naming the first of `METADATA_FILES` that is
  missing or is not valid JSON (`OPTIONAL` ones are checked where present)."""
  for name in METADATA_FILES:
    path = os.path.join(step_dir, name)
    if name in OPTIONAL and not os.path.exists(path):
      continue
    if name == "integrity/metadata" and not os.path.isdir(os.path.dirname(path)):
      raise DamagedCheckpointError(step, step_dir, NO_RECORD)
    if not os.path.isfile(path):
      raise DamagedCheckpointError(step, step_dir, f"its metadata file {name} is "
                                   f"missing")
    try:
      with open(path, encoding="utf-8") as f:
        json.load(f)
    except (OSError, ValueError) as e:
      raise DamagedCheckpointError(step, step_dir, f"its metadata file {name} is "
                                   f"unreadable ({type(e).__name__})") from e


def set_aside(step_dir: str, workdir: str) -> str:
  """Moves a damaged step folder to {workdir}/damaged_checkpoints/<step>[.<n>], never
  deleting it; returns the new path."""
  root = os.path.join(workdir, "damaged_checkpoints")
  os.makedirs(root, exist_ok=True)
  base = target = os.path.join(root, os.path.basename(step_dir.rstrip("/")))
  n = 0
  while os.path.exists(target):
    n += 1
    target = f"{base}.{n}"
  shutil.move(step_dir, target)
  return target
