"""Negative log-likelihood in bits per sample, three protocols.

The protocols are defined in docs/design.md, "The protocols".

Every protocol scores the codes of the run's recipe (`data/recipes.py`).

* full: every sample of every file, each with all the left context the model takes
  (silence before the file's start). The mean over all samples, with a 95 % interval
  for that same sample-weighted mean: files are the independent units (a ratio
  estimator: sum of NLL over sum of samples, its standard error from the files'
  residuals).
* sashimi: SaShiMi's protocol, exactly: the `sashimi` recipe's codes (each
  131,072-sample chunk from a file's start min-max scaled on its own, then mu-law),
  cut into those chunks (remainder dropped), context reset at each chunk start, the
  mean over every position. Chunks are equally long, so the interval over chunk means
  describes the same mean. Refused for codes of another recipe.
* sampled: N random positions (files in proportion to length) with the model's whole
  context, one target each: the usual scoring of a one-target-per-context model,
  through `target_logits` (the paper model's chunked path, its real cost). 95 %
  interval over positions.

Each protocol is one evaluator, a small unit with its settings and `run` (`full.py`:
full and sashimi; `sampled.py`), all writing the one result schema (`schema.py`):
the number of samples scored and the NLL of the three reference predictors on the
same samples beside the model's. Validation during training
(`training/validation.py`) and the study's context at inference
(`study/truncation.py`) are evaluators of the same shape. The scorers they share are
`scorer.py`; the units and the short-past split, `units.py`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from audiolm_jax.data import recipes
from audiolm_jax.evaluation import units
from audiolm_jax.evaluation.full import FullEvaluator, SashimiEvaluator
from audiolm_jax.evaluation.references import References
from audiolm_jax.evaluation.sampled import SampledEvaluator, sampled_positions
from audiolm_jax.evaluation.scorer import Scorer
from audiolm_jax.evaluation.units import FileScore

EVALUATORS = {"full": FullEvaluator, "sashimi": SashimiEvaluator,
              "sampled": SampledEvaluator}
PROTOCOLS = tuple(EVALUATORS)

__all__ = ["EVALUATORS", "PROTOCOLS", "FileScore", "Scorer", "evaluator",
           "evaluate_files", "reference_summary", "sampled_positions"]


def evaluator(protocol: str, *, recipe: str = recipes.DEFAULT,
              num_positions: int = 10_000, seed: int = 0, short_past: int = 0):
  """The evaluator of `protocol`, with the settings it uses (the others ignored)."""
  if protocol not in EVALUATORS:
    raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")
  if protocol == "sampled":
    return SampledEvaluator(recipe, num_positions, seed)
  return EVALUATORS[protocol](recipe=recipe, short_past=short_past)


def evaluate_files(scorer: Scorer, references: References | None, names: Sequence[str],
                   files: Sequence[np.ndarray], protocol: str, *,
                   recipe: str = recipes.DEFAULT, num_positions: int = 10_000,
                   seed: int = 0, max_samples_per_file: int | None = None,
                   short_past: int = 0,
                   progress: Callable[[int], None] | None = None) -> dict:
  """Scores one split's files (codes made by `recipe`, each cut to its first
  max_samples_per_file) under one protocol; returns the summary and per-unit
  results (without reference predictors if None)."""
  unit = evaluator(protocol, recipe=recipe, num_positions=num_positions, seed=seed,
                   short_past=short_past)
  files = [np.asarray(f, np.uint8)[:max_samples_per_file or None] for f in files]
  return unit.run(scorer, references, names, files, progress)


def reference_summary(references: References, names: Sequence[str],
                      files: Sequence[np.ndarray], protocol: str, *,
                      max_samples_per_file: int | None = None, short_past: int = 0
                      ) -> dict:
  """The reference predictors alone on the samples `evaluate_files` scores under
  `protocol` (full or sashimi), in the same fields: {"samples", "units",
  "references", "short_past": {"short"/"rest": {"count", "references"}}}: they
  depend on the data only, not on the model."""
  files = [np.asarray(f, np.uint8)[:max_samples_per_file or None] for f in files]
  unit_names, unit_codes = units.protocol_units(names, files, protocol)
  scored = [FileScore(n, None, references.sequence_bits(u))
            for n, u in zip(unit_names, unit_codes) if len(u)]
  if not scored:
    raise ValueError("the split holds no samples")
  out = {"samples": int(sum(len(s) for s in scored)), "units": len(scored),
         "references": units.mean_references([s.reference_bits for s in scored])}
  if short_past:
    out["short_past"] = units.split_by_past(scored, short_past)
  return out
