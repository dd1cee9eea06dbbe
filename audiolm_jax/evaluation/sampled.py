"""The `sampled` evaluator: N random positions (files in proportion to length), each
with the model's whole context and one target, through `target_logits` (the paper
model's chunked path, its real cost); 95 % interval over positions
(docs/design.md, "The protocols")."""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from audiolm_jax.data import recipes
from audiolm_jax.evaluation.full import result
from audiolm_jax.evaluation.intervals import mean_ci95
from audiolm_jax.evaluation.references import References
from audiolm_jax.evaluation.scorer import Scorer, TargetScorer
from audiolm_jax.evaluation.units import FileScore


def sampled_positions(lengths: Sequence[int], num_positions: int, seed: int
                      ) -> tuple[np.ndarray, np.ndarray]:
  """The draw: (file index [N], position in that file [N]), uniform over every
  sample of the split (so files in proportion to length)."""
  lengths = np.asarray(lengths, np.int64)
  if lengths.sum() == 0:
    raise ValueError("the split holds no samples")
  flat = np.random.default_rng(seed).integers(0, lengths.sum(), num_positions)
  file_index = np.searchsorted(np.cumsum(lengths), flat, side="right")
  return file_index, flat - np.concatenate([[0], np.cumsum(lengths)])[file_index]


@dataclasses.dataclass(frozen=True)
class SampledEvaluator:
  recipe: str = recipes.DEFAULT
  num_positions: int = 10_000
  seed: int = 0
  protocol = "sampled"
  interval = "95 % interval over positions"

  def run(self, scorer: Scorer, references: References | None, names: Sequence[str],
          files: Sequence[np.ndarray],
          progress: Callable[[int], None] | None = None) -> dict:
    """The split's score in the result schema, with a per-file breakdown."""
    file_index, position = sampled_positions([len(f) for f in files],
                                             self.num_positions, self.seed)
    one = TargetScorer(scorer.model, scorer.params, batch=scorer.batch)
    c, silence = one.context, scorer.silence
    nll = []
    for i in range(0, self.num_positions, one.batch * 16):  # a block of contexts
      block = range(i, min(i + one.batch * 16, self.num_positions))
      contexts = np.full((len(block), c), silence, np.uint8)
      targets = np.empty(len(block), np.uint8)
      for row, j in enumerate(block):
        codes, p = files[file_index[j]], position[j]
        past = codes[max(p - c, 0):p]
        contexts[row, c - len(past):] = past
        targets[row] = codes[p]
      nll.append(one(contexts, targets, progress))
    nll = np.concatenate(nll)
    refs = {}
    if references:  # each position given its file's past, one file at a time
      parts = {f: references.position_bits(files[f], position[file_index == f])
               for f in np.unique(file_index)}
      order = np.argsort(file_index, kind="stable")  # positions grouped by file
      refs = {k: np.empty(self.num_positions) for k in next(iter(parts.values()))}
      for k, v in refs.items():
        v[order] = np.concatenate([parts[f][k] for f in sorted(parts)])
    per_file = [FileScore(name, nll[file_index == f],
                          {k: v[file_index == f] for k, v in refs.items()})
                for f, name in enumerate(names) if (file_index == f).any()]
    extra = {"flops_per_scored_target": one.flops_per_target,
             "scoring_path": scorer.model.target_path}
    # The overall mean is over positions (each file's share is its draw count).
    out = result(self, nll, mean_ci95(nll), per_file, extra)
    out["references"] = {k: float(v.mean()) for k, v in refs.items()}
    return out
