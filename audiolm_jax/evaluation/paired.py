"""Two predictors scored on the same samples, compared file by file (paired).

Two NLLs with their own 95 % intervals overlap long before the models are
indistinguishable: most of each interval is the files' own difficulty, which both
predictors share. Paired over the same files, that part cancels, so the difference's
interval is the one that says whether one predictor beats the other. A predictor is
a model's NLL in an `evaluate` result, or one of the reference predictors scored
beside it (`linear_prediction`, `previous_sample`, `marginal`).
"""

from __future__ import annotations

import numpy as np

from audiolm_jax.evaluation.intervals import ratio_ci95

MODEL = "model"
REFERENCES = ("linear_prediction", "previous_sample", "marginal")
# What must match for two results to have scored the same samples.
_SAME = ("protocol", "recipe", "split", "max_seconds_per_file", "gain_db")


def per_file_bits(result: dict, predictor: str = MODEL) -> tuple[list[str], np.ndarray,
                                                                np.ndarray]:
  """(unit names, samples [U], mean NLL bits [U]) of `predictor` in an `evaluate`
  result (full or sashimi protocol: scored units, not sampled positions)."""
  if predictor != MODEL and predictor not in REFERENCES:
    raise ValueError(f"unknown predictor {predictor!r}; use {MODEL!r} or one of "
                     f"{REFERENCES}")
  if result.get("protocol") == "sampled":
    raise ValueError("a sampled-protocol result draws its own random positions per "
                     "run, not whole files; compare full or sashimi results")
  units = result.get("per_file")
  if not units:
    raise ValueError("the result has no per-file scores (per_file); it was not "
                     "written by python -m audiolm_jax.evaluate")
  key = "nll_bits" if predictor == MODEL else f"{predictor}_bits"
  if any(u.get(key) is None for u in units):
    raise ValueError(f"the result has no {predictor} score for every file (evaluated "
                     f"without its dataset's training split, or before the predictor "
                     f"existed)")
  return ([u["name"] for u in units], np.array([u["samples"] for u in units], np.int64),
          np.array([u[key] for u in units], np.float64))


def paired(a: dict, b: dict, a_predictor: str = MODEL, b_predictor: str = MODEL
           ) -> dict:
  """A minus B on the same samples: {"a_bits", "b_bits", "difference_bits",
  "ci95_bits" (files as units, the ratio estimator as `evaluate` uses), "files",
  "samples", "a_lower_files"}."""
  for field in _SAME:
    if a.get(field) != b.get(field):
      raise ValueError(f"the results scored different samples: {field} is "
                       f"{a.get(field)!r} in A and {b.get(field)!r} in B; score both "
                       f"with the same evaluate flags")
  names_a, n_a, bits_a = per_file_bits(a, a_predictor)
  names_b, n_b, bits_b = per_file_bits(b, b_predictor)
  if names_a != names_b or not np.array_equal(n_a, n_b):
    differ = next((f"{x} ({m} samples) vs {y} ({k})" for x, m, y, k
                   in zip(names_a, n_a, names_b, n_b) if (x, m) != (y, k)),
                  f"{len(names_a)} files vs {len(names_b)}")
    raise ValueError(f"the results scored different files or lengths (first "
                     f"difference: {differ}); compare results of the same dataset "
                     f"and split")
  diff_sums = n_a * (bits_a - bits_b)
  total = n_a.sum()
  return {"a_bits": float(np.sum(n_a * bits_a) / total),
          "b_bits": float(np.sum(n_a * bits_b) / total),
          "difference_bits": float(diff_sums.sum() / total),
          "ci95_bits": ratio_ci95(diff_sums, n_a),
          "files": len(names_a), "samples": int(total),
          "a_lower_files": int(np.sum(bits_a < bits_b))}
