"""The pure training and evaluation steps, and the state they carry.

The objectives (dense, sampled) are `models/objective.py`'s. Losses are mean
cross-entropies in nats; metrics report bits (nats / ln 2).
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from audiolm_jax.models.interface import AudioModel
from audiolm_jax.models.objective import LN2, logits_and_labels, nll_bits



@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  carry: Any = None  # a stateful model's per-row state between TBPTT segments


def make_optimizer(learning_rate: float, decay_step: int, decayed_learning_rate: float,
                   warmup_steps: int = 0, grad_clip_norm: float = 0.0,
                   grad_clip_value: float = 0.0, weight_decay: float = 0.0, plateau_factor: float = 0.0,
                   plateau_patience: int = 5, plateau_steps: int = 1000
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """Adam (AdamW with weight_decay > 0) with optional linear warmup, a step decay,
  global-norm and per-value clipping, and a reduce-on-plateau factor.

  plateau_factor > 0: the learning rate is multiplied by it whenever the training
  loss, averaged over `plateau_steps` steps, has not improved for `plateau_patience`
  such averages (s4's baselines use a plateau schedule on the validation loss; a
  step-free optimizer state cannot see validation, so this reads the training loss).
  """
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
  if grad_clip_value > 0:
    parts.append(optax.clip(grad_clip_value))
  parts.append(optax.adamw(schedule, weight_decay=weight_decay) if weight_decay > 0
               else optax.adam(schedule))
  if plateau_factor > 0:
    parts.append(optax.contrib.reduce_on_plateau(
        factor=plateau_factor, patience=plateau_patience,
        accumulation_size=plateau_steps))
  return optax.chain(*parts), schedule


def make_train_step(model: AudioModel, optimizer: optax.GradientTransformation,
                    schedule: optax.Schedule, *, objective: str, num_targets: int):
  """(state, batch, base_rng) -> (state, metrics); pure, jit it.

  batch: {"codes": uint8 [B, W]} and, for a stateful model, {"reset": bool [B]}: rows
  whose segment starts a file (their carry restarts from the model's initial state;
  the others continue from `state.carry`, with no gradient through it: TBPTT).

  The metrics say whether the step's gradients (`grad_norm`) and its updated
  parameters (`params_finite`) are finite, so the loop can refuse to keep a state
  that is not.
  """

  def loss_fn(params, batch, carry, rng):
    codes = batch["codes"]
    if model.stateful:
      logits, carry = model.logits_with_carry(params, codes, carry, batch["reset"],
                                              train=True, rng=rng)
      labels = codes[:, -logits.shape[1]:]
    else:
      logits, labels = logits_and_labels(model, params, codes, objective=objective,
                                         num_targets=num_targets, train=True, rng=rng)
    loss = optax.softmax_cross_entropy_with_integer_labels(
        logits, labels.astype(jnp.int32)).mean()
    return loss, carry

  def train_step(state: TrainState, batch, base_rng: jax.Array):
    rng = jax.random.fold_in(base_rng, state.step)
    (loss, carry), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, batch, state.carry, rng)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params,
                                          value=loss)
    params = optax.apply_updates(state.params, updates)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(p))
                                for p in jax.tree.leaves(params)]))
    metrics = {"loss_bits": loss / LN2, "grad_norm": optax.tree.norm(grads),
               "params_finite": finite.astype(jnp.float32),
               "learning_rate": schedule(state.step)}
    return TrainState(state.step + 1, params, opt_state,
                      jax.lax.stop_gradient(carry)), metrics

  return train_step


def make_eval_step(model: AudioModel, *, num_targets: int):
  """(params, codes [B, context + K]) -> NLL in bits [B, K], dense path, eval mode."""

  def eval_step(params, codes_BxW):
    logits, labels = logits_and_labels(model, params, codes_BxW, objective="dense",
                                       num_targets=num_targets, train=False, rng=None)
    return nll_bits(logits, labels)

  return eval_step
