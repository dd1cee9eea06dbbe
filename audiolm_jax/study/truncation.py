"""Context at inference: a trained model scored on the same positions with only the
last n tokens of its context (older chunks silence), for every n. An evaluator of
the study's (`TruncatedContext.run`, each n's score in the one result schema); it
needs a family whose context is a sequence of chunk tokens (`context_tokens`; the
computation is `models/token_context.py`'s, beside the families)."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from audiolm_jax.evaluation import schema
from audiolm_jax.evaluation.intervals import mean_ci95
from audiolm_jax.models.interface import AudioModel
from audiolm_jax.models.token_context import (check_token_context,
                                              truncated_context_bits)


@dataclasses.dataclass(frozen=True)
class TruncatedContext:
  """The evaluator: `tokens` context lengths, `num_positions` positions drawn."""

  tokens: tuple[int, ...]
  num_positions: int = 2000
  seed: int = 0
  batch: int = 16

  def run(self, model: AudioModel, params, files: Sequence[np.ndarray]
          ) -> dict[int, dict]:
    return truncated_context(model, params, files, self.tokens,
                             num_positions=self.num_positions, seed=self.seed,
                             batch=self.batch)


def truncated_context(model: AudioModel, params, files: Sequence[np.ndarray],
                      tokens: Sequence[int], *, num_positions: int = 2000,
                      seed: int = 0, batch: int = 16) -> dict[int, dict]:
  """The paper's model "applied to smaller contexts": NLL of the same random
  positions (each with at least the model's whole context of true past) when the
  model sees only the last n tokens (n x chunk_size samples) of it, the older ones
  replaced by silence; {n: {nll_bits, ci95_bits, positions, minus_longest_bits,
  minus_longest_ci95_bits}} for every n in `tokens` (the last two: paired against the
  largest n)."""
  check_token_context(model)
  c = model.left_context
  lengths = np.array([len(f) for f in files], np.int64)
  eligible = np.maximum(lengths - c, 0)
  if eligible.sum() == 0:
    raise ValueError(f"no file is longer than the model's context ({c} samples)")
  rng = np.random.default_rng(seed)
  flat = rng.integers(0, eligible.sum(), num_positions)
  f_index = np.searchsorted(np.cumsum(eligible), flat, side="right")
  position = flat - np.concatenate([[0], np.cumsum(eligible)])[f_index] + c
  contexts = np.stack([files[f][p - c:p] for f, p in zip(f_index, position)])
  targets = np.array([files[f][p] for f, p in zip(f_index, position)], np.uint8)
  nll = truncated_context_bits(model, params, contexts, targets, tokens, batch=batch)
  # Differences against the longest n are paired over the same positions, so their
  # interval is far tighter than the two means' intervals suggest.
  longest = nll[max(nll)]
  return {n: {**schema.summary(v.mean(dtype=np.float64), mean_ci95(v),
                               interval="95 % interval over positions",
                               samples=v.size, units=v.size, references={}),
              "positions": int(v.size),
              "minus_longest_bits": float((v - longest).mean(dtype=np.float64)),
              "minus_longest_ci95_bits": mean_ci95(v - longest)}
          for n, v in nll.items()}
