"""The pure training and evaluation steps, and the state they carry.

Two objectives over the same model:
* dense: windows of context + K codes; every one of the last K codes is a target
  (the dense path), so one window trains K targets.
* sampled: windows of context + 1 codes; the paper's literal setup, one target per
  context through the chunked path.
Losses are mean cross-entropies in nats; metrics report bits (nats / ln 2).
"""

from __future__ import annotations

import math
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from audiolm_jax.models.interface import AudioModel

LN2 = math.log(2.0)


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


def make_optimizer(learning_rate: float, decay_step: int, decayed_learning_rate: float,
                   warmup_steps: int = 0, grad_clip_norm: float = 0.0
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """Adam with optional linear warmup, a step decay, and global-norm clipping."""
  schedules, boundaries = [], []
  if warmup_steps > 0:
    schedules.append(optax.linear_schedule(learning_rate / warmup_steps,
                                           learning_rate, warmup_steps))
    boundaries.append(warmup_steps)
  schedules += [optax.constant_schedule(learning_rate),
                optax.constant_schedule(decayed_learning_rate)]
  boundaries.append(max(decay_step, warmup_steps))
  schedule = optax.join_schedules(schedules, boundaries)
  parts = [optax.clip_by_global_norm(grad_clip_norm)] if grad_clip_norm > 0 else []
  return optax.chain(*parts, optax.adam(schedule)), schedule


def logits_and_labels(model: AudioModel, params, codes_BxW: jax.Array, *,
                      objective: str, num_targets: int, train: bool,
                      rng: jax.Array | None):
  """Model logits and their integer labels for a batch of windows."""
  if objective == "dense":
    logits = model.logits(params, codes_BxW, num_targets=num_targets, train=train,
                          rng=rng)
    return logits, codes_BxW[:, -num_targets:]
  if objective == "sampled":
    logits = model.target_logits(params, codes_BxW[:, :-1], train=train, rng=rng)
    return logits, codes_BxW[:, -1]
  raise ValueError(f"objective must be 'dense' or 'sampled', got {objective!r}")


def make_train_step(model: AudioModel, optimizer: optax.GradientTransformation,
                    schedule: optax.Schedule, *, objective: str, num_targets: int,
                    inf_grad_at_step: int = -1):
  """(state, codes [B, W], base_rng) -> (state, metrics); pure, jit it.

  The metrics say whether the step's gradients (`grad_norm`) and its updated
  parameters (`params_finite`) are finite, so the loop can refuse to keep a state
  that is not. `inf_grad_at_step` >= 0 injects an infinite gradient (with a finite
  loss) at that step: the bfloat16-overflow drill; -1 leaves the step untouched.
  """

  def loss_fn(params, codes, rng):
    logits, labels = logits_and_labels(model, params, codes, objective=objective,
                                       num_targets=num_targets, train=True, rng=rng)
    return optax.softmax_cross_entropy_with_integer_labels(
        logits, labels.astype(jnp.int32)).mean()

  def train_step(state: TrainState, codes_BxW: jax.Array, base_rng: jax.Array):
    rng = jax.random.fold_in(base_rng, state.step)
    loss, grads = jax.value_and_grad(loss_fn)(state.params, codes_BxW, rng)
    if inf_grad_at_step >= 0:
      grads = jax.tree.map(
          lambda g: jnp.where(state.step == inf_grad_at_step, jnp.inf, g), grads)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(p))
                                for p in jax.tree.leaves(params)]))
    metrics = {"loss_bits": loss / LN2, "grad_norm": optax.tree.norm(grads),
               "params_finite": finite.astype(jnp.float32),
               "learning_rate": schedule(state.step)}
    return TrainState(state.step + 1, params, opt_state), metrics

  return train_step


def make_eval_step(model: AudioModel, *, num_targets: int):
  """(params, codes [B, context + K]) -> NLL in bits [B, K], dense path, eval mode."""

  def eval_step(params, codes_BxW):
    logits, labels = logits_and_labels(model, params, codes_BxW, objective="dense",
                                       num_targets=num_targets, train=False, rng=None)
    return optax.softmax_cross_entropy_with_integer_labels(
        logits, labels.astype(jnp.int32)) / LN2

  return eval_step
