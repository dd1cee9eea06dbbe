"""The `full` and `sashimi` evaluators: every sample of every unit, each with the
context the model takes from its unit's start (docs/design.md, "The protocols")."""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from audiolm_jax.data import recipes
from audiolm_jax.evaluation import schema, units
from audiolm_jax.evaluation.intervals import ratio_ci95
from audiolm_jax.evaluation.references import References
from audiolm_jax.evaluation.scorer import Scorer
from audiolm_jax.evaluation.units import FileScore


@dataclasses.dataclass(frozen=True)
class FullEvaluator:
  """full: every sample of every file, silence before the file's start. The mean over
  all samples, its 95 % interval with files as the independent units (a ratio
  estimator: sum of NLL over sum of samples). short_past > 0 also splits the scores
  by whether a position's past is shorter than short_past samples."""

  recipe: str = recipes.DEFAULT
  short_past: int = 0
  protocol = "full"
  interval = "95 % interval of the sample-weighted mean, files as units"

  def units(self, names, files) -> tuple[list[str], list[np.ndarray]]:
    return units.protocol_units(names, files, self.protocol)

  def run(self, scorer: Scorer, references: References | None, names: Sequence[str],
          files: Sequence[np.ndarray],
          progress: Callable[[int], None] | None = None) -> dict:
    """The split's score in the result schema, with a per-unit breakdown."""
    unit_names, unit_codes = self.units(names, files)
    nll = scorer.score_files(unit_codes, progress)
    refs = [references.sequence_bits(u) if references else {} for u in unit_codes]
    per_unit = [FileScore(n, x, r) for n, x, r in zip(unit_names, nll, refs)
                if len(x)]
    if not per_unit:
      raise ValueError("the split holds no samples")
    all_nll = np.concatenate([s.nll_bits for s in per_unit])
    ci = ratio_ci95([s.nll_bits.sum(dtype=np.float64) for s in per_unit],
                    [len(s.nll_bits) for s in per_unit])
    extra = ({"short_past": units.split_by_past(per_unit, self.short_past)}
             if self.short_past else {})
    return result(self, all_nll, ci, per_unit, extra)


@dataclasses.dataclass(frozen=True)
class SashimiEvaluator(FullEvaluator):
  """sashimi: SaShiMi's protocol, exactly: the `sashimi` recipe's codes cut into
  131,072-sample chunks from each file's start (remainder dropped), context reset at
  each chunk, the mean over every position; chunks are equally long, so the interval
  over chunk means describes the same mean. Refused for codes of another recipe."""

  recipe: str = "sashimi"
  protocol = "sashimi"
  interval = "95 % interval over chunk means"

  def __post_init__(self):
    if self.recipe != "sashimi":
      raise ValueError(
          f"the sashimi protocol scores the sashimi recipe's codes (each 131,072-sample "
          f"chunk min-max scaled, as s4 does), but this model reads {self.recipe!r} "
          f"codes: scoring it on other codes than it trained on measures a different "
          f"task. Train with --config.data.recipe=sashimi to compare with SaShiMi's "
          f"numbers, or use --protocol full")


def result(evaluator, all_nll: np.ndarray, ci: float, per_unit: list[FileScore],
           extra: dict) -> dict:
  """An evaluator's output: protocol, recipe, the schema's summary, its extra fields
  and the per-unit breakdown."""
  references = {k: np.concatenate([s.reference_bits[k] for s in per_unit]).mean()
                for k in per_unit[0].reference_bits}
  return {
      "protocol": evaluator.protocol,
      "recipe": evaluator.recipe,
      **schema.summary(all_nll.mean(dtype=np.float64), ci,
                       interval=evaluator.interval, samples=all_nll.size,
                       units=len(per_unit), references=references),
      **extra,
      "per_file": [{"name": s.name, "samples": int(s.nll_bits.size),
                    "nll_bits": float(s.nll_bits.mean()) if s.nll_bits.size else None,
                    **{f"{k}_bits": float(v.mean()) for k, v in s.reference_bits.items()
                       if v.size}}
                   for s in per_unit],
  }
