"""JSON files that every reader parses: non-finite floats are written as null.

Python's `json` writes NaN and Infinity, which jq, JavaScript and most JSON readers
reject. This project produces them in a few honest places: the 95 % interval of one
file or one validation window is undefined (NaN), a silent continuation's level and
band distance are -inf and inf. The files say why next to the null (`units`,
`silent`); values in memory keep their float form.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np


def finite(value):
  """`value` (nested dicts, lists, tuples, numbers) with every NaN or infinite float
  replaced by None and NumPy scalars made Python numbers."""
  if isinstance(value, dict):
    return {k: finite(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [finite(v) for v in value]
  if isinstance(value, np.generic):
    value = value.item()
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def dumps(value, **kwargs) -> str:
  """`json.dumps` of `finite(value)`; raises rather than write a non-standard token."""
  return json.dumps(finite(value), allow_nan=False, **kwargs)


def write(path: str, value, indent: int = 2) -> None:
  """Writes `finite(value)` to `path` atomically: a reader (or a killed writer) never
  sees half a file."""
  # Serialized first: a value that cannot be written leaves no temporary file behind.
  write_text(path, dumps(value, indent=indent))


def write_text(path: str, text: str) -> None:
  """Replaces `path` with `text` atomically (a temporary file, then a rename)."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)
