"""Validation NLL during training, on a fixed, seeded set of windows: an evaluator
(`run(params)`, the one result schema) that lives in training because it scores
through the sharded eval step."""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from audiolm_jax.data import pipeline, recipes
from audiolm_jax.evaluation import schema
from audiolm_jax.evaluation.intervals import mean_ci95
from audiolm_jax.evaluation.references import References
from audiolm_jax.models.interface import AudioModel
from audiolm_jax.training import steps
from audiolm_jax.training.sharding import global_batch, to_host

# The validation windows' seed, offset from the run's so they never match training's.
SEED_OFFSET = 1_000_003


class Validator:
  """Mean NLL (bits) of `eval_windows` windows of the validation split, each scored
  on its last `num_targets` codes (made by `recipe`), with the reference predictors
  on the same codes."""

  def __init__(self, config, path: str, model: AudioModel, mesh, batch_sharding,
               references: References, recipe: str = recipes.DEFAULT):
    self.k = config.num_targets
    self.batch = config.batch_size
    flat = pipeline.FlatSplit(path, "validation", recipe)
    sampler = pipeline.WindowSampler(flat,
                                     model.eval_context, self.k,
                                     seed=config.seed + SEED_OFFSET)
    n_batches = math.ceil(max(config.eval_windows, 1) / self.batch)
    p, count = jax.process_index(), jax.process_count()
    # Process p holds rows p, p + count, ... of every global batch.
    self.local = [np.stack([sampler(j)["codes"] for j in
                            range(b * self.batch + p, (b + 1) * self.batch, count)])
                  for b in range(n_batches)]
    self.sharding = batch_sharding
    self.step = jax.jit(steps.make_eval_step(model, num_targets=self.k),
                        out_shardings=NamedSharding(mesh, P()))
    self.references = references
    self._reference_bits = None

  def _all_windows(self) -> np.ndarray:
    return np.concatenate([to_host(global_batch(b, self.sharding))
                           for b in self.local])

  def run(self, params) -> dict:
    """The validation score in the one result schema (`evaluation/schema.py`): the
    evaluators' shape (`evaluation/protocols.py`), during training."""
    # The replicated result is whole on every process: read the local copy.
    nll = np.concatenate([
        np.asarray(self.step(params, global_batch(b, self.sharding))
                   .addressable_data(0)) for b in self.local])  # [windows, K] bits
    per_window = nll.mean(axis=1)
    if self._reference_bits is None:
      codes = self._all_windows()  # each window's last K codes, given its own past
      rows = [self.references.sequence_bits(w, len(w) - self.k) for w in codes]
      self._reference_bits = {k: float(np.mean([r[k] for r in rows]))
                              for k in rows[0]}
    # Windows hold K targets each: the mean of window means is the sample mean.
    return schema.summary(per_window.mean(), mean_ci95(per_window),
                          interval="95 % interval over windows", samples=nll.size,
                          units=len(per_window), references=self._reference_bits)
