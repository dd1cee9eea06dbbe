"""What a model is scored on: its logits and their labels for a batch of windows,
and NLL in bits. Training (`training/steps.py`) minimises it and evaluation
(`evaluation/scorer.py`) reports it, so it lives below both.

Two objectives over the same model:
* dense: windows of context + K codes; every one of the last K codes is a target
  (the dense path), so one window trains K targets.
* sampled: windows of context + 1 codes; the paper's literal setup, one target per
  context through the chunked path.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from audiolm_jax.models.interface import AudioModel

LN2 = math.log(2.0)
OBJECTIVES = ("dense", "sampled")


def logits_and_labels(model: AudioModel, params, codes_BxW: jax.Array, *,
                      objective: str, num_targets: int, train: bool,
                      rng: jax.Array | None):
  """Model logits [B, K, 256] (dense) or [B, 256] (sampled) and their integer labels
  [B, K] or [B] for a batch of windows [B, W]."""
  if objective == "dense":
    logits = model.logits(params, codes_BxW, num_targets=num_targets, train=train,
                          rng=rng)
    return logits, codes_BxW[:, -num_targets:]
  if objective == "sampled":
    logits = model.target_logits(params, codes_BxW[:, :-1], train=train, rng=rng)
    return logits, codes_BxW[:, -1]
  raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")


def nll_bits(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """NLL in bits [...] of integer labels [...] under logits [..., V]."""
  return optax.softmax_cross_entropy_with_integer_labels(
      logits, labels.astype(jnp.int32)) / LN2
