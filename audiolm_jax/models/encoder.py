"""The CNN front-end: one set of weights, two exact ways to apply it.

docs/design.md, "Two exact computations", derives them.

* `Encoder.chunks`: the paper's literal computation. Each chunk's last R samples go
  through VALID convolutions with strides s_1..s_L, are flattened and mapped linearly
  to one token.
* `Encoder.dense`: the encoding z(e) of the R samples ending right before EVERY
  position e of a signal at once. Chunks that overlap share their activations, so this
  is the same stack with stride 1 and dilations d_l = s_1 * ... * s_{l-1}; the
  flatten + linear becomes a `flatten_positions`-tap convolution with dilation
  s_1 * ... * s_L. Cost per position is about the parameter count (0.93M MACs for the
  paper's encoder) instead of a whole chunk encoding (198M MACs).

Dropout (rate `encoder_dropout`) acts on the last conv layer's output, the flatten.
In the dense path one mask is shared by every token that reads a given absolute
position (per time segment with `remat_encoder`); in the chunked path every chunk
draws its own. Both are valid regularizers; the paths are equal in eval mode.

* `Encoder.step`: the dense stack one position at a time, for generation
  (docs/design.md, "Generation"). Each layer keeps a ring buffer of its recent
  inputs (layer l with dilation d reads `(kernel - 1) d + 1` of them; the projection
  reads `flatten_positions` values spaced `flatten_dilation` apart); a new sample
  gathers each layer's taps and applies the same `_conv` as the dense path to them,
  in the same dtype.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from audiolm_jax.models.cnn_transformer_config import CNNTransformerConfig

_DIMS = ("NWC", "WIO", "NWC")
# With remat_encoder, the dense path encodes this many chunks' worth of positions at
# a time: conv activations of 16 x 2,000 positions (~100 MB per row in float32 for
# the paper's encoder) instead of the whole window's, for ~6 % recomputed overlap.
REMAT_SEGMENT_CHUNKS = 16


def _conv(x_BxLxI, kernel_WxIxO, bias_O, *, stride: int, dilation: int):
  y = lax.conv_general_dilated(
      x_BxLxI, kernel_WxIxO.astype(x_BxLxI.dtype), window_strides=(stride,),
      padding="VALID", rhs_dilation=(dilation,), dimension_numbers=_DIMS)
  return y + bias_O.astype(y.dtype).reshape(1, 1, -1)


def _dropout(x, rate: float, key):
  if key is None or rate == 0.0:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def _dense_layers(convs, x_BxL, *, dilations) -> list[jax.Array]:
  """Stride-1 dilated convs: [input [B, L, 1], layer 1 [B, L1, C1], ..., layer L]."""
  acts = [x_BxL[..., None]]
  for (kernel, bias), dilation in zip(convs, dilations):
    acts.append(jax.nn.relu(_conv(acts[-1], kernel, bias, stride=1,
                                  dilation=dilation)))
  return acts


def _project(proj, h_BxLxC, *, flatten_positions: int, flatten_dilation: int):
  """The flatten + linear as a `flatten_positions`-tap dilated conv: [B, L', D]."""
  kernel, bias = proj
  kernel = kernel.reshape(flatten_positions, h_BxLxC.shape[-1], -1)
  return _conv(h_BxLxC, kernel, bias, stride=1, dilation=flatten_dilation)


def _dense_stack(convs, proj, x_BxL, key, *, dilations, flatten_dilation,
                 flatten_positions, rate):
  """Stride-1 dilated stack: amplitudes [B, L] -> tokens z [B, L - R + 1, D]."""
  h = _dense_layers(convs, x_BxL, dilations=dilations)[-1]
  h = _dropout(h, rate, key)
  return _project(proj, h, flatten_positions=flatten_positions,
                  flatten_dilation=flatten_dilation)


def _dense_in_segments(stack, convs, proj, x_BxL, key, *, receptive_field: int,
                       segment: int):
  """`stack` over overlapping time segments in a rematerialized loop.

  z at output position i reads x[i : i + R], so output segment [a, a + segment)
  needs only x[a : a + segment + R - 1]: the segments give the same z, and only one
  segment's conv activations are alive at a time (the backward pass recomputes
  them). A loop, not unrolled segments: XLA schedules unrolled recomputations
  together and the memory saving is lost. (XLA's CPU backend runs these loop-body
  convolutions far slower than the plain stack's; use it where memory demands it.)
  Returns z [B, L - R + 1, D].
  """
  batch, length = x_BxL.shape
  out_length = length - receptive_field + 1
  if out_length <= segment:
    return jax.checkpoint(stack)(convs, proj, x_BxL, key)
  count = -(-out_length // segment)
  # Zeros on the right only feed outputs past out_length, which are dropped.
  x = jnp.pad(x_BxL, ((0, 0), (0, count * segment + receptive_field - 1 - length)))
  starts = np.arange(count) * segment
  windows_SxBxW = x[:, starts[:, None] + np.arange(segment + receptive_field - 1)
                    ].transpose(1, 0, 2)
  keys = None if key is None else jax.random.split(key, count)

  @jax.checkpoint
  def one_segment(args):
    window_BxW, segment_key = args
    return stack(convs, proj, window_BxW, segment_key)

  z_SxBxTxD = jax.lax.map(one_segment, (windows_SxBxW, keys))
  z = z_SxBxTxD.transpose(1, 0, 2, 3).reshape(batch, count * segment, -1)
  return z[:, :out_length]


def _chunk_stack(convs, proj, x_MxS, key, *, strides, receptive_field, rate):
  """Strided stack on whole chunks: amplitudes [M, S] -> tokens [M, D]."""
  # Right-align the receptive field on the chunk (docs/design.md, "The receptive
  # field"): with the default left alignment the last sample of each chunk would never
  # be read.
  h = x_MxS[:, x_MxS.shape[1] - receptive_field:, None]
  for (kernel, bias), stride in zip(convs, strides):
    h = jax.nn.relu(_conv(h, kernel, bias, stride=stride, dilation=1))
  h = _dropout(h, rate, key)
  kernel, bias = proj
  flat = h.reshape(h.shape[0], -1)
  return flat @ kernel.astype(flat.dtype) + bias.astype(flat.dtype).reshape(1, -1)


def buffer_geometry(cfg: CNNTransformerConfig) -> list[tuple[int, int]]:
  """(ring length, tap spacing) of each conv layer's input, then the projection's."""
  k = cfg.conv_kernel
  layers = [((k - 1) * d + 1, d) for d in cfg.dilations]
  layers.append(((cfg.flatten_positions - 1) * cfg.flatten_dilation + 1,
                 cfg.flatten_dilation))
  return layers


class Encoder(nn.Module):
  """Chunk encoder with float32 parameters and `config.dtype` compute."""

  config: CNNTransformerConfig

  def setup(self):
    cfg = self.config
    conv_init = nn.initializers.he_normal()  # fan-in = kernel * in_channels; ReLU.
    convs, in_features = [], 1
    for i, features in enumerate(cfg.conv_features):
      kernel = self.param(f"conv{i}_kernel", conv_init,
                          (cfg.conv_kernel, in_features, features), jnp.float32)
      bias = self.param(f"conv{i}_bias", nn.initializers.zeros, (features,),
                        jnp.float32)
      convs.append((kernel, bias))
      in_features = features
    flat = cfg.flatten_positions * in_features
    self.convs = tuple(convs)
    self.proj = (
        self.param("proj_kernel", nn.initializers.lecun_normal(),
                   (flat, cfg.token_dim), jnp.float32),
        self.param("proj_bias", nn.initializers.zeros, (cfg.token_dim,),
                   jnp.float32))

  def _dropout_key(self, train: bool):
    if train and self.config.encoder_dropout > 0:
      return self.make_rng("dropout")
    return None

  def _maybe_remat(self, fn):
    return jax.checkpoint(fn) if self.config.remat_encoder else fn

  def dense(self, x_BxL: jax.Array, *, train: bool = False) -> jax.Array:
    """Amplitudes [B, L] -> z [B, L - R + 1, D]; z[:, i] encodes x[:, i:i + R]."""
    cfg = self.config
    fn = functools.partial(
        _dense_stack, dilations=cfg.dilations,
        flatten_dilation=cfg.flatten_dilation,
        flatten_positions=cfg.flatten_positions, rate=cfg.encoder_dropout)
    x = x_BxL.astype(cfg.dtype)
    key = self._dropout_key(train)
    if not cfg.remat_encoder:
      return fn(self.convs, self.proj, x, key)
    return _dense_in_segments(fn, self.convs, self.proj, x, key,
                              receptive_field=cfg.receptive_field,
                              segment=REMAT_SEGMENT_CHUNKS * cfg.chunk_size)

  # ---- Incremental mode (generation) ------------------------------------------------

  def dense_layers(self, x_BxL: jax.Array) -> list[jax.Array]:
    """Eval-mode activations of the dense stack, to prime the ring buffers:
    [input [B, L, 1], layer 1, ..., layer L, z [B, L - R + 1, D]] in `dtype`."""
    cfg = self.config
    acts = _dense_layers(self.convs, x_BxL.astype(cfg.dtype), dilations=cfg.dilations)
    return acts + [_project(self.proj, acts[-1], flatten_positions=cfg.flatten_positions,
                            flatten_dilation=cfg.flatten_dilation)]

  def step(self, buffers: list[jax.Array], t: jax.Array, x_B: jax.Array
           ) -> tuple[list[jax.Array], jax.Array]:
    """Appends input x_B at absolute position t; returns the buffers and z(t) [B, D].

    buffers[l] is [B, ring length, C_l] (see `buffer_geometry`), the value at
    position p in slot p % length. Eval mode, in `dtype`.
    """
    cfg = self.config
    value = x_B.astype(cfg.dtype)[:, None]  # [B, C=1]: the new input of layer 1
    weights = [(c, True) for c in self.convs] + [(self._proj_taps(), False)]
    new_buffers = []
    for buf, (length, spacing), ((kernel, bias), relu) in zip(
        buffers, buffer_geometry(cfg), weights):
      buf = buf.at[:, t % length].set(value)
      taps = (t - spacing * jnp.arange(kernel.shape[0] - 1, -1, -1)) % length
      value = _conv(buf[:, taps], kernel, bias, stride=1, dilation=1)[:, 0]
      value = jax.nn.relu(value) if relu else value
      new_buffers.append(buf)
    return new_buffers, value

  def _proj_taps(self):
    kernel, bias = self.proj
    cfg = self.config
    return kernel.reshape(cfg.flatten_positions, cfg.conv_features[-1], -1), bias

  # ---- Chunked mode (the paper's literal computation) --------------------------------

  def chunks(self, x_MxS: jax.Array, *, train: bool = False) -> jax.Array:
    """Amplitudes of M chunks [M, S] -> tokens [M, D] (reads each chunk's last R)."""
    cfg = self.config
    if x_MxS.shape[-1] != cfg.chunk_size:
      raise ValueError(f"chunks must hold chunk_size={cfg.chunk_size} samples, "
                       f"got shape {x_MxS.shape}")
    fn = functools.partial(
        _chunk_stack, strides=cfg.conv_strides,
        receptive_field=cfg.receptive_field, rate=cfg.encoder_dropout)
    x = x_MxS.astype(cfg.dtype)
    return self._maybe_remat(fn)(self.convs, self.proj, x, self._dropout_key(train))
