"""Peak memory of the training step against context length, and the largest batch.

Compiles (never runs) the step `train.py` uses for the paper's model at each context,
with and without rematerialization (the encoder in time segments and the
Transformer in blocks of `remat_block` targets), and reads XLA's buffer assignment: arguments +
outputs + temporaries. Memory is affine in the batch, so two compilations predict
the largest batch that fits the device and a third (or a few) confirm it.
"""

from __future__ import annotations

import jax
import ml_collections

from audiolm_jax.models import cost
from audiolm_jax.training import config as train_config
from audiolm_jax.training import config_builders
from audiolm_jax.training.sharding import ShardedStep, data_mesh

_MAX_BATCH = 1 << 16


def step_bytes(config: ml_collections.ConfigDict, batch_per_device: int) -> int:
  """Compiled memory per device of `config`'s train step at this batch."""
  n_dev = jax.device_count()
  config = ml_collections.ConfigDict(config.to_dict())
  config.batch_size = batch_per_device * n_dev
  model = train_config.checked_model(config, n_dev)
  sharded = ShardedStep.build(config, model, data_mesh(), jax.random.key(0))
  compiled = sharded.compile(config.batch_size, jax.random.key(1))
  return cost.peak_bytes_of(compiled)


def largest_batch(config, limit: int, one: int, two: int) -> int:
  """Largest per-device batch whose step fits in `limit` bytes (0 if none), at
  most 2^16: the affine prediction from batches 1 and 2, confirmed by compiling it
  and its neighbour, bisected if the prediction was off."""
  if one > limit:
    return 0
  fits = lambda b: step_bytes(config, b) <= limit
  guess = min(_MAX_BATCH, 1 + (limit - one) // max(two - one, 1))
  if not fits(guess):
    lo, hi = 1, guess              # lo fits, hi does not
  elif guess == _MAX_BATCH or not fits(guess + 1):
    return guess
  else:
    lo, hi = guess + 1, min(2 * guess + 2, _MAX_BATCH + 1)
    while hi <= _MAX_BATCH and fits(hi):
      lo, hi = hi, min(2 * hi, _MAX_BATCH + 1)
  while hi - lo > 1:
    mid = (lo + hi) // 2
    lo, hi = (mid, hi) if fits(mid) else (lo, mid)
  return lo


REMATS = ("none", "blocks", "blocks+encoder")


def run(*, preset: str, contexts: list[int], memory_limit: int, remat_block: int,
        find_largest_batch: bool = True, log=print) -> dict:
  """Rows per context and remat: none, the Transformer in blocks of `remat_block`
  targets, and that plus the encoder in time segments."""
  rows = []
  for context in contexts:
    for remat in REMATS:
      config = config_builders.paper_config(preset, "dataset=music21_piano",
                                         f"configs/{preset}.py")
      config.model.context = context
      config.model.remat_block = 0 if remat == "none" else remat_block
      config.model.remat_encoder = remat == "blocks+encoder"
      one, two = step_bytes(config, 1), step_bytes(config, 2)
      row = {"context": context, "remat_encoder": config.model.remat_encoder,
             "remat_block": config.model.remat_block,
             "num_targets": config.num_targets,
             "gib_batch_1": one / 2**30, "gib_per_extra_row": (two - one) / 2**30}
      if find_largest_batch:
        row["largest_batch_per_device"] = largest_batch(config, memory_limit, one, two)
      else:  # the affine prediction alone, unconfirmed
        row["largest_batch_predicted"] = (
            0 if one > memory_limit else 1 + (memory_limit - one) // max(two - one, 1))
      rows.append(row)
      log(row)
  return {"preset": preset, "memory_limit_gib": memory_limit / 2**30,
          "devices": jax.device_count(), "rows": rows}
