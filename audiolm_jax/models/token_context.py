"""Context as chunk tokens, for experiments that cut it: the paper's model encodes
each chunk of its context to one token, so the older tokens can be swapped for the
silence chunk's (`study/truncation.py`). Not on the model interface: only the paper's
family has such a context."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from audiolm_jax.models.cnn_transformer import CNNTransformer
from audiolm_jax.models.interface import AudioModel
from audiolm_jax.padding import pad_rows


def check_token_context(model: AudioModel) -> None:
  """ValueError unless the model reads its context as chunk tokens."""
  if not isinstance(model, CNNTransformer):
    raise ValueError(f"context at inference needs a model whose context is a sequence "
                     f"of chunk tokens (the paper's); {model.name} is not one")


def truncated_context_bits(model, params, contexts_PxC, targets_P, tokens, *,
                           batch: int = 16) -> dict[int, np.ndarray]:
  """NLL bits [P] of each target given only the last n of its context's N tokens,
  the older chunks replaced by silence, for every n in `tokens`.

  Each chunk is encoded on its own, so a silenced chunk's token is the silence
  chunk's token: every context's N tokens are encoded once, and each n only swaps
  the older ones for that token and runs the Transformer again (the encoder runs
  once per context instead of once per context and n).
  """
  check_token_context(model)
  c, num = model.config.context, model.config.num_tokens
  for n in tokens:
    if not 1 <= n <= num:
      raise ValueError(f"{n} tokens: the model reads 1 to {num}")
  encode = jax.jit(model.chunk_tokens)

  @jax.jit
  def nll(params, tokens_BxNxD, recent_BxL, silence_D, keep, targets_B):
    older = jnp.arange(num) < num - keep  # [N]: replaced by the silence token
    tokens = jnp.where(older[None, :, None], silence_D, tokens_BxNxD)
    logits = model.logits_from_tokens(params, tokens, recent_BxL)
    return optax.softmax_cross_entropy_with_integer_labels(
        logits, targets_B.astype(jnp.int32)) / math.log(2.0)

  silence_D = encode(params, jnp.full((1, c), model.silence, jnp.int32))[0, 0]
  out = {int(n): [] for n in tokens}
  for i in range(0, len(targets_P), batch):
    (ctx, tgt), real = pad_rows(batch, contexts_PxC[i:i + batch],
                                targets_P[i:i + batch])
    z = encode(params, jnp.asarray(ctx, jnp.int32))
    # The last L samples (the `local_samples` path) lie in the newest chunk: kept.
    recent = jnp.asarray(ctx[:, c - model.config.local_samples:], jnp.int32)
    for n in out:
      out[n].append(np.asarray(nll(params, z, recent, silence_D, jnp.int32(n),
                                   jnp.asarray(tgt)))[:real])
  return {n: np.concatenate(v) for n, v in out.items()}
