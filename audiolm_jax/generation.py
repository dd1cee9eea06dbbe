"""Autoregressive sampling, exact and incremental (DESIGN 1.3).

Per stream the sampler keeps ring buffers of each conv layer's recent inputs (layer l
with dilation d reads 6d + 1 of them; the final projection reads `flatten_positions`
values of the last layer spaced `flatten_dilation` apart) and of the last
(N - 1) * chunk + 1 encodings z. A new sample then costs one position through the conv
stack (about the encoder's parameter count in multiply-adds), a gather of N tokens
and one Transformer pass, instead of N chunk encodings. A prompt primes every buffer
with one dense pass.

`generate` runs blocks of steps as one jitted `lax.scan`; `generate_naive` recomputes
the chunked path at every step. With the same key they draw the same samples.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from audiolm_jax import quantization
from audiolm_jax.model import AudioLM
from audiolm_jax.model_config import ModelConfig


# ---- Sampling ----------------------------------------------------------------------


def sample_codes(key: jax.Array, logits_BxV: jax.Array, temperature: float,
                 top_p: float) -> jax.Array:
  """Draws codes [B] from logits; temperature 0 is greedy, top_p < 1 is nucleus."""
  if temperature == 0.0:
    return jnp.argmax(logits_BxV, axis=-1).astype(jnp.int32)
  logits = logits_BxV / temperature
  if top_p < 1.0:
    sorted_logits = jnp.sort(logits, axis=-1)[:, ::-1]
    cum = jnp.cumsum(jax.nn.softmax(sorted_logits, axis=-1), axis=-1)
    # Keep the smallest set whose mass reaches top_p (always at least the top code).
    cutoff_index = jnp.sum(cum < top_p, axis=-1, keepdims=True)
    cutoff = jnp.take_along_axis(sorted_logits, cutoff_index, axis=-1)
    logits = jnp.where(logits < cutoff, -jnp.inf, logits)
  return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class SamplingOptions:
  temperature: float = 1.0
  top_p: float = 1.0

  def __post_init__(self):
    if self.temperature < 0:
      raise ValueError(f"temperature={self.temperature} must be >= 0")
    if not 0.0 < self.top_p <= 1.0:
      raise ValueError(f"top_p={self.top_p} must lie in (0, 1]")


# ---- Caches ------------------------------------------------------------------------


def _layer_geometry(cfg: ModelConfig) -> list[tuple[int, int]]:
  """(buffer length, tap spacing) of every conv layer's input, then the projection's."""
  k = cfg.conv_kernel
  layers = [((k - 1) * d + 1, d) for d in cfg.dilations]
  layers.append(((cfg.flatten_positions - 1) * cfg.flatten_dilation + 1,
                 cfg.flatten_dilation))
  return layers


def _z_length(cfg: ModelConfig) -> int:
  return (cfg.num_tokens - 1) * cfg.chunk_size + 1


def _prime_length(cfg: ModelConfig) -> int:
  """Input samples a dense priming pass needs: every buffer then holds real values."""
  return (cfg.num_tokens - 1) * cfg.chunk_size + cfg.receptive_field


def _encoder_weights(params, cfg: ModelConfig):
  enc = params["encoder"]
  convs = [(enc[f"conv{i}_kernel"], enc[f"conv{i}_bias"])
           for i in range(len(cfg.conv_features))]
  proj = enc["proj_kernel"].reshape(cfg.flatten_positions, cfg.conv_features[-1], -1)
  return convs, (proj, enc["proj_bias"])


def _dense_layers(params, cfg: ModelConfig, x_BxL: jax.Array) -> list[jax.Array]:
  """The dense stack's activations: [input, layer 1, ..., layer L, z], all [B, *, C]."""
  convs, (proj, proj_bias) = _encoder_weights(params, cfg)
  dims = ("NWC", "WIO", "NWC")
  outs = [x_BxL[..., None]]
  for (kernel, bias), d in zip(convs, cfg.dilations):
    y = lax.conv_general_dilated(outs[-1], kernel, (1,), "VALID", rhs_dilation=(d,),
                                 dimension_numbers=dims)
    outs.append(jax.nn.relu(y + bias.reshape(1, 1, -1)))
  z = lax.conv_general_dilated(outs[-1], proj, (1,), "VALID",
                               rhs_dilation=(cfg.flatten_dilation,),
                               dimension_numbers=dims)
  outs.append(z + proj_bias.reshape(1, 1, -1))
  return outs


def _ring(values_BxLxC: jax.Array, length: int, t: int) -> jax.Array:
  """A ring buffer [B, length, C] holding the last `length` values, the one at
  absolute position t in slot t % length."""
  tail = values_BxLxC[:, -length:]
  slots = (np.arange(t - length + 1, t + 1)) % length
  return jnp.zeros_like(tail).at[:, slots].set(tail)


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Cache:
  """Per-stream state: the ring buffers and the absolute position of the newest
  sample (in the silence-padded stream)."""

  inputs: list[jax.Array]   # input buffers of conv layers 1..L and the projection
  z: jax.Array              # [B, (N-1) S + 1, D]
  t: jax.Array              # int32 scalar


def prime(params, cfg: ModelConfig, prompt_BxP: jax.Array) -> Cache:
  """Fills every buffer with one dense pass over the silence-padded prompt."""
  silence = quantization.silence_code(cfg.quantization)
  batch = prompt_BxP.shape[0]
  need = _prime_length(cfg)
  codes = prompt_BxP[:, -need:] if prompt_BxP.shape[1] else prompt_BxP
  pad = need - codes.shape[1]
  codes = jnp.concatenate([jnp.full((batch, pad), silence, jnp.int32),
                           codes.astype(jnp.int32)], axis=1)
  x = quantization.encoder_input(codes)
  acts = _dense_layers(params, cfg, x)
  t = need - 1  # position of the newest sample
  geometry = _layer_geometry(cfg)
  inputs = [_ring(a, length, t) for a, (length, _) in zip(acts[:-1], geometry)]
  return Cache(inputs=inputs, z=_ring(acts[-1], _z_length(cfg), t),
               t=jnp.asarray(t, jnp.int32))


def _push(params, cfg: ModelConfig, cache: Cache, codes_B: jax.Array) -> Cache:
  """Appends one sample per stream: one position through the conv stack."""
  convs, (proj, proj_bias) = _encoder_weights(params, cfg)
  t = cache.t + 1
  x = quantization.encoder_input(codes_B)
  value = x[:, None]  # [B, C=1]: the new input of layer 1
  inputs = []
  weights = [(k, b, True) for k, b in convs] + [(proj, proj_bias, False)]
  for buf, (length, spacing), (kernel, bias, relu) in zip(
      cache.inputs, _layer_geometry(cfg), weights):
    buf = buf.at[:, t % length].set(value)
    taps = (t - spacing * jnp.arange(kernel.shape[0] - 1, -1, -1)) % length
    value = jnp.einsum("btc,tco->bo", buf[:, taps], kernel) + bias[None]
    value = jax.nn.relu(value) if relu else value
    inputs.append(buf)
  z = cache.z.at[:, t % cache.z.shape[1]].set(value)
  return Cache(inputs=inputs, z=z, t=t)


def _tokens(cfg: ModelConfig, cache: Cache) -> jax.Array:
  """The N tokens [B, N, D] that predict the sample after position t."""
  n, s = cfg.num_tokens, cfg.chunk_size
  index = (cache.t - s * jnp.arange(n - 1, -1, -1)) % cache.z.shape[1]
  return cache.z[:, index]


# ---- Generation --------------------------------------------------------------------


def _logits(model: AudioLM, params, tokens_BxNxD):
  return model.apply({"params": params}, tokens_BxNxD,
                     method=AudioLM.logits_from_tokens)


@functools.partial(jax.jit, static_argnames=("model", "num_steps", "options"))
def _scan_block(model: AudioLM, params, cache: Cache, key: jax.Array, start: jax.Array,
                *, num_steps: int, options: SamplingOptions):
  cfg = model.config

  def step(cache, i):
    logits = _logits(model, params, _tokens(cfg, cache))
    codes = sample_codes(jax.random.fold_in(key, start + i), logits,
                         options.temperature, options.top_p)
    return _push(params, cfg, cache, codes), codes

  cache, codes = lax.scan(step, cache, jnp.arange(num_steps))
  return cache, codes.T  # [B, num_steps]


def generate_blocks(model: AudioLM, params, key: jax.Array, *, num_samples: int,
                    prompt_BxP: jax.Array | None = None, batch: int = 1,
                    block: int = 4000, options: SamplingOptions = SamplingOptions()
                    ) -> Iterator[np.ndarray]:
  """Yields generated codes [B, <= block] block by block (for progress reporting)."""
  cfg = model.config
  if prompt_BxP is None:
    prompt_BxP = jnp.zeros((batch, 0), jnp.int32)
  cache = jax.jit(prime, static_argnums=1)(params, cfg, jnp.asarray(prompt_BxP))
  done = 0
  while done < num_samples:
    n = min(block, num_samples - done)
    cache, codes = _scan_block(model, params, cache, key, jnp.asarray(done),
                               num_steps=n, options=options)
    done += n
    yield np.asarray(codes)


def generate(model: AudioLM, params, key: jax.Array, *, num_samples: int,
             prompt_BxP: jax.Array | None = None, batch: int = 1, block: int = 4000,
             options: SamplingOptions = SamplingOptions()) -> np.ndarray:
  """Codes [B, num_samples] continuing the prompt (or silence), incrementally."""
  return np.concatenate(list(generate_blocks(
      model, params, key, num_samples=num_samples, prompt_BxP=prompt_BxP,
      batch=batch, block=block, options=options)), axis=1)


def generate_naive(model: AudioLM, params, key: jax.Array, *, num_samples: int,
                   prompt_BxP: jax.Array | None = None, batch: int = 1,
                   options: SamplingOptions = SamplingOptions(),
                   callback: Callable[[int], None] | None = None) -> np.ndarray:
  """Reference: recompute the chunked path on the last `context` samples per step."""
  cfg = model.config
  silence = quantization.silence_code(cfg.quantization)
  if prompt_BxP is None:
    prompt_BxP = jnp.zeros((batch, 0), jnp.int32)
  prompt = jnp.asarray(prompt_BxP, jnp.int32)
  stream = jnp.concatenate(
      [jnp.full((prompt.shape[0], cfg.context), silence, jnp.int32), prompt], axis=1)

  @jax.jit
  def step(params, context, i):
    logits = model.apply({"params": params}, context, method=AudioLM.chunked_logits)
    return sample_codes(jax.random.fold_in(key, i), logits, options.temperature,
                        options.top_p)

  out = []
  for i in range(num_samples):
    codes = step(params, stream[:, -cfg.context:], i)
    stream = jnp.concatenate([stream, codes[:, None]], axis=1)
    out.append(np.asarray(codes))
    if callback:
      callback(i)
  return np.stack(out, axis=1)
