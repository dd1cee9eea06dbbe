"""Mixing the model's and linear prediction's distributions of each code, online.

Context-mixing coders (PAQ and its kin) never trust one predictor: they combine
several, with weights learned from the symbols already coded, identically in encoder
and decoder. Here, per segment and per code, two layers:

1. a geometric mixture of the two members (log-linear pooling, the multi-symbol form
   of PAQ's logistic mixing): p_geo ∝ p_model^w1 · p_linear^w2, with w updated by
   online gradient ascent on log p_geo(code) at rate `rate`. It can beat both
   members (it sharpens where they agree);
2. a Bayesian mixture with fixed-share switching over {model, linear, geometric}:
   p = Σ v_i p_i, v_i <- v_i p_i(code) / p(code), then v <- (1 - share) v + share/3.
   This layer's cost is bounded: on any segment it is at most log2(3) bits plus
   -log2(1 - share) bits a code above its best member's (the fixed-share bound), so
   mixing can lose to the better predictor only by that margin.

`predictor` picks what the codec codes with: "mix" (the default), or one member
alone ("model", "linear").
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from audiolm_jax.codec.linear import LinearSetup

PREDICTORS = ("mix", "model", "linear")
_LOG_FLOOR = 1e-30


@dataclasses.dataclass(frozen=True)
class Mixing:
  """What a codec file's codes were predicted with (recorded in its header)."""

  predictor: str = "mix"
  # The geometric weights' learning rate (per code, on log-probabilities in nats):
  # on the demo run's validation split (8-bit codes, 16 segments) 0.0005, 0.002,
  # 0.008 and 0.02 gave 2.869, 2.841, 2.818 and 2.812 bits per sample with the
  # linear predictor's block scale; with its running scale, 0.005 and 0.02 gave
  # 2.704 and 2.700 (16-bit PCM: 5.425 and 5.422).
  rate: float = 0.02
  share: float = 1.0 / 1024    # fixed-share switching rate of the Bayesian layer
  initial: tuple[float, float] = (0.5, 0.5)  # geometric weights at a segment's start
  linear: LinearSetup = LinearSetup()  # its white-noise floor set by the mode

  def __post_init__(self):
    if self.predictor not in PREDICTORS:
      raise ValueError(f"unknown predictor {self.predictor!r}; use one of "
                       f"{PREDICTORS}")
    if not 0 < self.share < 1 or self.rate < 0:
      raise ValueError(f"need 0 < share < 1 and rate >= 0; got {self}")

  @property
  def uses_model(self) -> bool:
    return self.predictor != "linear"

  @property
  def uses_linear(self) -> bool:
    return self.predictor != "model"

  def to_json(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, fields: dict) -> "Mixing":
    fields = dict(fields)
    fields["linear"] = LinearSetup(**fields["linear"])
    fields["initial"] = tuple(fields["initial"])
    return cls(**fields)


class MixerState(NamedTuple):
  geometric: jax.Array  # [B, 2] weights of (model, linear) in the log domain
  switching: jax.Array  # [B, 3] posterior weights of (model, linear, geometric)


def start(mixing: Mixing, batch: int) -> MixerState:
  return MixerState(jnp.tile(jnp.asarray(mixing.initial, jnp.float32), (batch, 1)),
                    jnp.full((batch, 3), 1.0 / 3.0, jnp.float32))


def mix(state: MixerState, model_logp_BxV, linear_p_BxV):
  """(p [B, V] to code with, and what `update` needs)."""
  linear_logp = jnp.log(linear_p_BxV)
  members = jnp.stack([model_logp_BxV, linear_logp], axis=1)      # [B, 2, V]
  geo_logp = jax.nn.log_softmax(jnp.einsum("bm,bmv->bv", state.geometric, members),
                                axis=-1)
  experts = jnp.exp(jnp.stack([model_logp_BxV, linear_logp, geo_logp], axis=1))
  p = jnp.einsum("be,bev->bv", state.switching, experts)
  return p, (members, geo_logp, experts)


def update(mixing: Mixing, state: MixerState, saved, code_B) -> MixerState:
  """The mixer after coding code_B [B] (int32)."""
  members, geo_logp, experts = saved
  at = code_B[:, None, None]
  member_at = jnp.take_along_axis(members, jnp.broadcast_to(
      at, (members.shape[0], 2, 1)), axis=2)[..., 0]                 # [B, 2]
  expected = jnp.einsum("bv,bmv->bm", jnp.exp(geo_logp), members)
  geometric = state.geometric + mixing.rate * (member_at - expected)
  likelihood = jnp.take_along_axis(experts, jnp.broadcast_to(
      at, (experts.shape[0], 3, 1)), axis=2)[..., 0]                 # [B, 3]
  posterior = state.switching * jnp.maximum(likelihood, _LOG_FLOOR)
  posterior = posterior / jnp.sum(posterior, axis=1, keepdims=True)
  switching = (1.0 - mixing.share) * posterior + mixing.share / 3.0
  return MixerState(geometric, switching)
