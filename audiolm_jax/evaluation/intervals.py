"""The 95 % intervals every NLL in the project is reported with."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.96


def mean_ci95(values) -> float:
  """Half-width of the 95 % interval of the mean of i.i.d. values (NaN below 2)."""
  values = np.asarray(values, np.float64)
  if len(values) < 2:
    return float("nan")
  return float(Z95 * values.std(ddof=1) / math.sqrt(len(values)))


def ratio_ci95(sums, counts) -> float:
  """Half-width of the 95 % interval of sum(sums) / sum(counts), the units (files)
  independent: the ratio estimator's standard error,
  sqrt(k / (k - 1) * sum((s_i - r n_i)^2)) / sum(n_i). Equal counts: `mean_ci95` of
  the unit means."""
  sums, counts = np.asarray(sums, np.float64), np.asarray(counts, np.float64)
  k = len(sums)
  if k < 2:
    return float("nan")
  r = sums.sum() / counts.sum()
  se = math.sqrt(k / (k - 1) * np.sum((sums - r * counts) ** 2)) / counts.sum()
  return float(Z95 * se)
