"""`CNNTransformerModule`: Verma's raw-audio language model, computed densely or chunk by chunk.

A target sample t is predicted from the `context` samples before it: N = context /
chunk_size tokens, token k (k = 0 oldest .. N - 1 newest) encoding the chunk that ends
right before t - (N - 1 - k) * chunk_size. Positions before a row's first sample hold
the silence code.

    model = CNNTransformerModule(get_model_config("paper_128k"))
    params = init_params(model, jax.random.key(0))
    logits_BxKxV = model.apply({"params": params}, codes_BxT, num_targets=K)
    logits_BxV = model.apply({"params": params}, context_BxC,
                             method=CNNTransformerModule.chunked_logits)

Both give the same numbers in eval mode (to float32 rounding); the dense one costs
hundreds of times less per target (docs/design.md, "Two exact computations"). With
`local_samples = L > 0` (not in the paper) the newest token also gets a linear map of
the L samples before the target. With `train=True` pass `rngs={"dropout": key}`.
"""

from __future__ import annotations


import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from audiolm_jax.data import quantization
from audiolm_jax.models.encoder import Encoder
from audiolm_jax.models.interface import compiled_init
from audiolm_jax.models.cnn_transformer_config import CNNTransformerConfig
from audiolm_jax.models.transformer import Head, Transformer


def _check_codes(codes, name: str) -> None:
  if codes.ndim != 2:
    raise ValueError(f"{name} must be [batch, samples]; got shape {codes.shape}")
  if not jnp.issubdtype(codes.dtype, jnp.integer):
    raise TypeError(f"{name} must hold integer codes in [0, 256) (see "
                    f"audiolm_jax.data.quantization.encode); got dtype {codes.dtype}")


class CNNTransformerModule(nn.Module):
  """CNN chunk encoder -> Transformer over N tokens -> 256-way next-sample head."""

  config: CNNTransformerConfig

  def setup(self):
    self.encoder = Encoder(self.config)
    self.transformer = Transformer(self.config)
    self.head = Head(self.config)
    if self.config.local_samples:
      self.local = nn.Dense(self.config.token_dim, dtype=self.config.dtype)

  def _encoder_input(self, codes):
    # The encoder reads the dequantized code, code / 128 - 1 in [-1, 1) (SaShiMi's
    # `dequantize`, before mu-law expansion): for mu-law codes that is the companded
    # value, which spreads quiet audio over the whole input range instead of leaving
    # it in a few hundredths around zero. For linear codes it is the amplitude.
    return quantization.encoder_input(codes)

  def _predict(self, tokens_MxNxD, recent_MxL, train: bool):
    """Logits [M, 256] from N tokens and the last L = local_samples codes [M, L]."""
    if self.config.local_samples:
      local_MxD = self.local(self._encoder_input(recent_MxL))
      tokens_MxNxD = tokens_MxNxD.at[:, -1].add(local_MxD.astype(tokens_MxNxD.dtype))
    return self.head(self.transformer(tokens_MxNxD, train=train), train=train)

  def _recent(self, codes_BxT, num_targets: int):
    """The L = local_samples codes before each of the last K positions: [B, K, L]."""
    l, length = self.config.local_samples, codes_BxT.shape[1]
    # Target k (position T - K + k) reads positions T - K + k - L .. T - K + k - 1.
    codes = self._past(codes_BxT, length - num_targets - l)
    return codes[:, np.arange(num_targets)[:, None] + np.arange(l)[None, :]]

  def _past(self, codes_BxT, start: int):
    """codes[:, start:T - 1], silence-padded on the left where start < 0."""
    codes = codes_BxT[:, max(start, 0):codes_BxT.shape[1] - 1]
    if start < 0:
      silence = quantization.silence_code(self.config.quantization)
      codes = jnp.pad(codes, ((0, 0), (-start, 0)), constant_values=silence)
    return codes

  def _predict_in_blocks(self, tokens_MxNxD, recent_MxL, train: bool):
    """`_predict` over blocks of `remat_block` rows in a rematerialized scan.

    Each target's Transformer pass is independent of the others, so the blocks give
    the same numbers; only one block's activations (attention probabilities are
    rows x heads x N x N) are alive at a time, in the forward and backward pass.
    """
    block, m = self.config.remat_block, tokens_MxNxD.shape[0]
    if block == 0 or m <= block:
      return self._predict(tokens_MxNxD, recent_MxL, train)
    pad = -m % block
    # Explicit block count: recent is [M, 0] for the paper's model.
    blocks = [jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)).reshape(
        (m + pad) // block, block, *x.shape[1:]) for x in (tokens_MxNxD, recent_MxL)]

    def body(module, carry, block_inputs):
      return carry, module._predict(*block_inputs, train)

    scan = nn.scan(nn.remat(body), variable_broadcast="params",
                   split_rngs={"params": False, "dropout": True},
                   length=(m + pad) // block)
    _, logits = scan(self, None, tuple(blocks))
    return logits.reshape(-1, logits.shape[-1])[:m]

  def __call__(self, codes_BxT: jax.Array, *, num_targets: int,
               train: bool = False) -> jax.Array:
    """Dense path: codes [B, T] -> logits [B, num_targets, 256] (float32).

    Logit k predicts codes[:, T - num_targets + k] from the `context` samples before
    it. Only the last context + num_targets samples of each row are read.
    """
    _check_codes(codes_BxT, "codes_BxT")
    cfg = self.config
    batch, length = codes_BxT.shape
    if not 1 <= num_targets <= length:
      raise ValueError(f"num_targets={num_targets} must lie in [1, {length}] "
                       f"(the row length)")
    n, s, r = cfg.num_tokens, cfg.chunk_size, cfg.receptive_field
    # Tokens z(e) are needed for e = T-K-(N-1)S .. T-1; z(e) reads samples e-R .. e-1.
    window = (n - 1) * s + num_targets + r - 1
    codes = self._past(codes_BxT, length - 1 - window)
    z_BxExD = self.encoder.dense(self._encoder_input(codes), train=train)
    # Target k's token j is z at e = t_k - (N-1-j) S, i.e. index k + j S of z.
    index_KxN = np.arange(num_targets)[:, None] + s * np.arange(n)[None, :]
    tokens = z_BxExD[:, index_KxN]  # [B, K, N, D]
    recent = self._recent(codes_BxT, num_targets)  # [B, K, L]
    logits = self._predict_in_blocks(tokens.reshape(batch * num_targets, n, -1),
                                     recent.reshape(batch * num_targets, -1), train)
    return logits.reshape(batch, num_targets, -1)

  # ---- Incremental pieces (generation; see models/cnn_transformer.py) ---------------

  def encoder_layers(self, codes_BxL: jax.Array) -> list[jax.Array]:
    """Eval-mode dense activations [input, conv layers..., z] of codes [B, L]."""
    return self.encoder.dense_layers(self._encoder_input(codes_BxL))

  def encoder_step(self, buffers: list[jax.Array], t: jax.Array, codes_B: jax.Array
                   ) -> tuple[list[jax.Array], jax.Array]:
    """Pushes one code per row at position t: (buffers, z(t) [B, D])."""
    return self.encoder.step(buffers, t, self._encoder_input(codes_B))

  def logits_from_tokens(self, tokens_BxNxD: jax.Array, recent_BxL: jax.Array
                         ) -> jax.Array:
    """Eval-mode logits [B, 256] from N tokens (oldest first) and the last
    L = local_samples codes [B, L] (L = 0 for the paper's model)."""
    return self._predict(tokens_BxNxD, recent_BxL, train=False)

  def chunk_tokens(self, context_BxC: jax.Array, *, train: bool = False
                   ) -> jax.Array:
    """Exactly `context` codes [B, C] -> the N tokens [B, N, D] of its chunks.

    Each chunk is encoded on its own, so a chunk's token depends on that chunk only.
    """
    _check_codes(context_BxC, "context_BxC")
    cfg = self.config
    batch, length = context_BxC.shape
    if length != cfg.context:
      raise ValueError(f"context_BxC must hold exactly context={cfg.context} "
                       f"samples; got {length}. Pad on the left with the silence "
                       f"code {quantization.silence_code(cfg.quantization)}.")
    x = self._encoder_input(context_BxC).reshape(batch * cfg.num_tokens, cfg.chunk_size)
    return self.encoder.chunks(x, train=train).reshape(batch, cfg.num_tokens, -1)

  def chunked_logits(self, context_BxC: jax.Array, *, train: bool = False
                     ) -> jax.Array:
    """The paper's literal path: exactly `context` codes [B, C] -> logits [B, 256].

    Cuts the context into N chunks, encodes each, and predicts the next sample.
    """
    recent = context_BxC[:, context_BxC.shape[1] - self.config.local_samples:]
    return self._predict(self.chunk_tokens(context_BxC, train=train), recent, train)


def init_params(model: CNNTransformerModule, rng: jax.Array):
  """float32 parameters of `model`, initialized through the dense path (jitted once
  per module by `interface.compiled_init`; NumPy example codes, never a tracer)."""
  return compiled_init(model, np.zeros((1, 1), np.int32), num_targets=1)(rng)
