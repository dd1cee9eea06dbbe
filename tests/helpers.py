"""Small random models and audio for the tests."""

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np

from audiolm_jax import CNNTransformerModule, CNNTransformerConfig, get_model_config, init_params
from audiolm_jax import models
from audiolm_jax.models.cnn_transformer import CNNTransformer

# Three geometries: the tiny preset; the paper's encoder with 4 tokens; and an odd
# one (kernel 5, strides 3,2, chunk 50, linear codes) so nothing paper-specific hides.
CONFIGS = {
    "tiny": get_model_config("tiny"),
    "paper_encoder": get_model_config("paper_128k", context=8_000),
    "odd": CNNTransformerConfig(
        quantization="linear", chunk_size=50, context=150, conv_features=(12, 6),
        conv_strides=(3, 2), conv_kernel=5, token_dim=16, num_layers=1,
        num_heads=2, mlp_dim=24, head_hidden=32),
    # The optional full-resolution path (not in the paper): the last 20 samples.
    "local": get_model_config("tiny", local_samples=20),
}


def trained_like(params, seed: int = 0, scale: float = 0.3):
  """`params` with every leaf perturbed, as training would move them.

  A fresh init has every bias at 0 and every LayerNorm scale at 1 (and SampleRNN's
  initial state at 0): a path that dropped or misplaced one of them computes the same
  thing there. Constant leaves (zeros, ones, S4D's log_a_real) get `scale` x N(0, 1)
  added, the others `scale / 3` x their own spread: the outputs move materially, and
  parameters kept in log space (S4D's poles and step sizes) stay valid.
  """
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed + 7919), len(leaves))
  out = []
  for key, leaf in zip(keys, leaves):
    x = jnp.asarray(leaf)
    spread = float(jnp.std(x)) if x.size > 1 else 0.0
    sigma = scale / 3 * spread if spread > 1e-6 else scale
    out.append((x + sigma * jax.random.normal(key, x.shape)).astype(x.dtype))
  return jax.tree.unflatten(treedef, out)


def make_model(cfg: CNNTransformerConfig, seed: int = 0):
  """(the Flax CNNTransformerModule module, trained-like parameters)."""
  model = CNNTransformerModule(cfg)
  return model, trained_like(init_params(model, jax.random.key(seed)), seed)


def make_family(cfg: CNNTransformerConfig, seed: int = 0):
  """(the paper model as an AudioModel, trained-like parameters)."""
  model = CNNTransformer(cfg)
  return model, trained_like(model.init(jax.random.key(seed)), seed)


def init_trained_like(model, seed: int = 0):
  """Trained-like parameters of any family's AudioModel."""
  return trained_like(model.init(jax.random.key(seed)), seed)


# Small instances of every registered family, for the family contract
# (tests/test_family_contract.py) and the tests that run every family. The paper's
# model comes in three geometries: its ring buffers and token paths differ.
FAMILY_CASES = {
    "cnn_transformer": ("cnn_transformer", dataclasses.asdict(CONFIGS["tiny"])),
    "cnn_transformer/odd": ("cnn_transformer", dataclasses.asdict(CONFIGS["odd"])),
    "cnn_transformer/local": ("cnn_transformer", dataclasses.asdict(CONFIGS["local"])),
    "wavenet": ("wavenet", dict(layers=5, blocks=2, residual_channels=8,
                                dilation_channels=8, skip_channels=16,
                                end_channels=16, embedding_dim=8)),
    "samplernn": ("samplernn", dict(hidden=24, embedding_dim=8)),
    "sashimi": ("sashimi", dict(d_model=8, n_layers=2, state_size=8)),
}


def family_case(case: str, seed: int = 3, **overrides):
  """(an AudioModel of a FAMILY_CASES entry, trained-like parameters)."""
  name, fields = FAMILY_CASES[case]
  model = models.build(name, **{**fields, **overrides})
  return model, init_trained_like(model, seed)


def random_codes(rng: np.random.Generator, batch: int, length: int) -> jax.Array:
  """Random codes around the silence code (audio-like magnitudes, all 256 possible)."""
  walk = np.cumsum(rng.normal(0, 6, (batch, length)), axis=1)
  noise = rng.integers(-40, 41, (batch, length))
  return jnp.asarray(np.clip(128 + walk * 0.3 + noise, 0, 255), jnp.int32)


@functools.cache
def _jitted(model: CNNTransformerModule, method: str):
  # Eager Flax dispatches op by op; one compiled function per (model, path) keeps
  # the suite fast. Shapes and keyword values are static.
  fn = getattr(CNNTransformerModule, method)
  return jax.jit(lambda params, x, rngs, **kw: model.apply(
      {"params": params}, x, method=fn, rngs=rngs, **kw),
      static_argnames=("num_targets", "train"))


def dense(model, params, codes, num_targets, *, rngs=None, **kw):
  """Jitted dense path: logits [B, num_targets, 256]."""
  return _jitted(model, "__call__")(params, codes, rngs, num_targets=num_targets,
                                    **kw)


def chunked(model, params, context, *, rngs=None, **kw):
  """Jitted chunked path: logits [B, 256]."""
  return _jitted(model, "chunked_logits")(params, context, rngs, **kw)


def left_context(codes, t: int, context: int) -> jax.Array:
  """The `context` samples before position t, silence-padded on the left."""
  padded = jnp.pad(codes, ((0, 0), (context, 0)), constant_values=128)
  return padded[:, t:t + context]


def rel_err(a, b) -> float:
  return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


def strict_loads(text: str):
  """`json.loads` that refuses NaN and Infinity, as jq and JavaScript do."""
  def refuse(name):
    raise ValueError(f"non-standard JSON constant {name}")
  return json.loads(text, parse_constant=refuse)
