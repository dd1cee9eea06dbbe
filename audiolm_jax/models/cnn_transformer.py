"""The paper's model as an `AudioModel` (`config.model.name = "cnn_transformer"`).

Training and evaluation use `CNNTransformerModule`'s dense path; the one-target objective uses its
chunked path (the paper's literal computation). Incremental sampling (docs/design.md,
"Generation") keeps, per stream, the encoder's ring buffers (`Encoder.step`: one
position through the same conv code and weights, in the model's dtype) and the last
(N - 1) * chunk + 1 encodings z; a new sample then costs one position of the conv stack,
a gather of N tokens and one Transformer pass, instead of N chunk encodings. A prompt
primes every buffer with one dense pass. With `local_samples = L`, the state also
holds the last L codes.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from audiolm_jax.models.cnn_transformer_module import CNNTransformerModule, init_params
from audiolm_jax.models.cnn_transformer_config import CNNTransformerConfig
from audiolm_jax.models.encoder import buffer_geometry
from audiolm_jax.models.interface import AudioModel
from audiolm_jax.models.rings import ring


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Cache:
  """Per-stream sampling state: ring buffers and the newest sample's position."""

  inputs: list[jax.Array]   # input rings of conv layers 1..L and the projection
  z: jax.Array              # [B, (N-1) S + 1, D] ring of encodings
  recent: jax.Array         # [B, L] the last L = local_samples codes, oldest first
  t: jax.Array              # int32 scalar: absolute position in the padded stream


@dataclasses.dataclass(frozen=True)
class CNNTransformer(AudioModel):
  """CNN chunk encoder -> Transformer over N tokens -> 256-way head (the paper)."""

  config: CNNTransformerConfig
  name = "cnn_transformer"
  config_class = CNNTransformerConfig
  module_class = CNNTransformerModule

  @property
  def left_context(self) -> int:
    return self.config.context

  def init(self, rng):
    return init_params(self.module, rng)

  def logits(self, params, codes_BxT, *, num_targets, train=False, rng=None):
    rngs = {"dropout": rng} if train else None
    return self.module.apply({"params": params}, codes_BxT, num_targets=num_targets,
                             train=train, rngs=rngs)

  def target_logits(self, params, codes_BxT, *, train=False, rng=None):
    """The chunked path on the last `context` codes (silence-padded on the left)."""
    c = self.config.context
    codes = codes_BxT[:, -c:]
    if codes.shape[1] < c:
      codes = jnp.pad(codes, ((0, 0), (c - codes.shape[1], 0)),
                      constant_values=self.silence)
    rngs = {"dropout": rng} if train else None
    return self.module.apply({"params": params}, codes, train=train, rngs=rngs,
                             method=CNNTransformerModule.chunked_logits)

  def chunk_tokens(self, params, context_BxC):
    """Eval-mode tokens [B, N, D] of exactly `context` codes [B, C], one per chunk."""
    return self.module.apply({"params": params}, context_BxC,
                             method=CNNTransformerModule.chunk_tokens)

  def logits_from_tokens(self, params, tokens_BxNxD, recent_BxL):
    """Eval-mode logits [B, 256] from N tokens (oldest first) and the last
    L = local_samples codes [B, L] before the target."""
    return self.module.apply({"params": params}, tokens_BxNxD, recent_BxL,
                             method=CNNTransformerModule.logits_from_tokens)

  # ---- Context at inference (an optional capability of the interface) ------------

  @property
  def context_tokens(self) -> int:
    return self.config.num_tokens

  @property
  def token_samples(self) -> int:
    return self.config.chunk_size

  @property
  def target_path(self) -> str:
    return "chunked (one target per context)"

  # ---- Incremental sampling -------------------------------------------------------

  def _z_length(self) -> int:
    return (self.config.num_tokens - 1) * self.config.chunk_size + 1

  def prime(self, params, prompt_BxP) -> Cache:
    cfg = self.config
    # Enough input that every ring holds real (or silence) values after one pass.
    need = (cfg.num_tokens - 1) * cfg.chunk_size + cfg.receptive_field
    codes = jnp.asarray(prompt_BxP, jnp.int32)[:, -need:]
    codes = jnp.pad(codes, ((0, 0), (need - codes.shape[1], 0)),
                    constant_values=self.silence)
    acts = self.module.apply({"params": params}, codes, method=CNNTransformerModule.encoder_layers)
    t = need - 1  # the newest sample's position
    rings = [ring(a, length, t) for a, (length, _) in zip(acts[:-1],
                                                           buffer_geometry(cfg))]
    return Cache(inputs=rings, z=ring(acts[-1], self._z_length(), t),
                 recent=codes[:, need - cfg.local_samples:],
                 t=jnp.asarray(t, jnp.int32))

  def next_logits(self, params, state: Cache):
    n, s = self.config.num_tokens, self.config.chunk_size
    index = (state.t - s * jnp.arange(n - 1, -1, -1)) % state.z.shape[1]
    return self.logits_from_tokens(params, state.z[:, index], state.recent)

  def push(self, params, state: Cache, codes_B) -> Cache:
    t = state.t + 1
    rings, z_BxD = self.module.apply({"params": params}, state.inputs, t, codes_B,
                                     method=CNNTransformerModule.encoder_step)
    z = state.z.at[:, t % state.z.shape[1]].set(z_BxD.astype(state.z.dtype))
    recent = state.recent
    if self.config.local_samples:  # a shift, not a ring: L is a few dozen codes
      recent = jnp.concatenate([recent[:, 1:], codes_B[:, None].astype(recent.dtype)],
                               axis=1)
    return Cache(inputs=rings, z=z, recent=recent, t=t)
