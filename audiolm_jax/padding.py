"""One fixed batch shape for every call: the last row repeated to fill a batch.

A jitted function compiles once per input shape, so a caller that feeds it batches
of `batch` rows pads its final, shorter batch instead of compiling a second shape,
and drops the padded rows' outputs.
"""

from __future__ import annotations

import numpy as np


def pad_rows(batch: int, *arrays: np.ndarray) -> tuple[list[np.ndarray], int]:
  """(arrays with leading dimension `batch`, the number of real rows): each array's
  last row repeated where there are fewer than `batch` rows (at least one row)."""
  rows = len(arrays[0])
  if not 0 < rows <= batch:
    raise ValueError(f"need 1 to {batch} rows, got {rows}")
  if rows == batch:
    return list(arrays), rows
  return [np.concatenate([a, np.repeat(a[-1:], batch - rows, axis=0)])
          for a in arrays], rows
