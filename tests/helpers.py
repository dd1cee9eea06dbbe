"""Small random models and audio for the tests."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np

from audiolm_jax import AudioLM, ModelConfig, get_model_config, init_params
from audiolm_jax.models.cnn_transformer import CNNTransformer

# Three geometries: the tiny preset; the paper's encoder with 4 tokens; and an odd
# one (kernel 5, strides 3,2, chunk 50, linear codes) so nothing paper-specific hides.
CONFIGS = {
    "tiny": get_model_config("tiny"),
    "paper_encoder": get_model_config("paper_128k", context=8_000),
    "odd": ModelConfig(
        quantization="linear", chunk_size=50, context=150, conv_features=(12, 6),
        conv_strides=(3, 2), conv_kernel=5, token_dim=16, num_layers=1,
        num_heads=2, mlp_dim=24, head_hidden=32),
    # The optional full-resolution path (not in the paper): the last 20 samples.
    "local": get_model_config("tiny", local_samples=20),
}


def make_model(cfg: ModelConfig, seed: int = 0):
  """(the Flax AudioLM module, its parameters)."""
  model = AudioLM(cfg)
  return model, init_params(model, jax.random.key(seed))


def make_family(cfg: ModelConfig, seed: int = 0):
  """(the paper model as an AudioModel, its parameters)."""
  model = CNNTransformer(cfg)
  return model, model.init(jax.random.key(seed))


def random_codes(rng: np.random.Generator, batch: int, length: int) -> jax.Array:
  """Random codes around the silence code (audio-like magnitudes, all 256 possible)."""
  walk = np.cumsum(rng.normal(0, 6, (batch, length)), axis=1)
  noise = rng.integers(-40, 41, (batch, length))
  return jnp.asarray(np.clip(128 + walk * 0.3 + noise, 0, 255), jnp.int32)


@functools.cache
def _jitted(model: AudioLM, method: str):
  # Eager Flax dispatches op by op; one compiled function per (model, path) keeps
  # the suite fast. Shapes and keyword values are static.
  fn = getattr(AudioLM, method)
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
