"""WaveNet (`config.model.name = "wavenet"`): the baseline of SaShiMi's and the paper's
Table 1, as state-spaces/s4 trained it on YouTubeMix (docs/design.md, "The baselines'
sources").

    codes -> Embed(256, 256) -> 1x1 conv to R channels (no bias)
    -> blocks x layers of: dilated conv (kernel 2, dilation 1..2^(layers-1)) to a
       tanh filter and a sigmoid gate (no bias), z = tanh * sigmoid;
       skip += 1x1(z) (no bias); x = 1x1(z) (no bias) + x
    -> ReLU(skip) -> 1x1 (bias) -> ReLU -> 1x1 to 256 (bias) -> Dense(256, 256) readout

All convolutions are VALID, so the output at input position i reads inputs
i - (receptive_field - 1) .. i, with receptive_field = 1 + blocks * (2^layers - 1)
(4,093 for 4 x 10). The inputs are the codes before each target (a target's logits
read the 4,093 codes before it, silence before a row's start). Training computes
every position of a window in one pass; the skip and output convolutions run only
on the positions whose logits are asked for.

Fast generation (Fast WaveNet): each layer keeps a ring of its last `dilation + 1`
inputs, so a new sample runs one position through every layer; the taps go through
the same `_dilated_conv` as the dense pass, in the same dtype.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from audiolm_jax.data import quantization
from audiolm_jax.models.interface import AudioModel, compiled_init
from audiolm_jax.models.rings import ring

DTYPES = ("float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class WaveNetConfig:
  """Hyperparameters; defaults are s4's YouTubeMix WaveNet (4.24M parameters)."""

  quantization: str = "mu_law"   # the codes it reads: mu_law | linear
  layers: int = 10               # dilated layers per block (dilations 1 .. 2^(L-1))
  blocks: int = 4                # repeats of the dilation cycle
  embedding_dim: int = 256       # the input embedding of each code
  residual_channels: int = 64    # width of the residual stream
  dilation_channels: int = 64    # width of the filter and gate
  skip_channels: int = 1024      # width of the summed skip connections
  end_channels: int = 512        # hidden width of the output stack
  kernel_size: int = 2           # of the dilated convolutions (2 as s4's)
  dtype: str = "float32"         # compute dtype; parameters are float32

  def __post_init__(self):
    problems = []
    if self.quantization not in quantization.KINDS:
      problems.append(f"quantization={self.quantization!r}; use one of "
                      f"{quantization.KINDS}")
    if self.dtype not in DTYPES:
      problems.append(f"dtype={self.dtype!r}; use one of {DTYPES}")
    for name in ("layers", "blocks", "embedding_dim", "residual_channels",
                 "dilation_channels", "skip_channels", "end_channels"):
      if getattr(self, name) < 1:
        problems.append(f"{name}={getattr(self, name)} must be >= 1")
    if self.kernel_size != 2:
      problems.append(f"kernel_size={self.kernel_size}: only 2 (s4's WaveNet) is "
                      f"implemented")
    if problems:
      raise ValueError("invalid WaveNetConfig:\n  - " + "\n  - ".join(problems))

  @property
  def dilations(self) -> tuple[int, ...]:
    return tuple(2 ** i for _ in range(self.blocks) for i in range(self.layers))

  @property
  def receptive_field(self) -> int:
    """Codes one prediction reads: 1 + blocks * (2^layers - 1)."""
    return 1 + (self.kernel_size - 1) * sum(self.dilations)

  def replace(self, **changes) -> "WaveNetConfig":
    return dataclasses.replace(self, **changes)


def _dilated_conv(x_BxLxC: jax.Array, kernel_KxCxO: jax.Array, dilation: int
                  ) -> jax.Array:
  """VALID dilated convolution without bias: [B, L, C] -> [B, L - (K-1) d, O]."""
  return lax.conv_general_dilated(
      x_BxLxC, kernel_KxCxO.astype(x_BxLxC.dtype), window_strides=(1,),
      padding="VALID", rhs_dilation=(dilation,), dimension_numbers=("NWC", "WIO", "NWC"))


class WaveNetModule(nn.Module):
  """The network; float32 parameters, `config.dtype` compute, float32 logits."""

  config: WaveNetConfig

  def setup(self):
    cfg = self.config
    dt = cfg.dtype
    conv_init = nn.initializers.lecun_normal()
    self.embed = nn.Embed(quantization.NUM_CODES, cfg.embedding_dim, dtype=dt)
    self.start = nn.Dense(cfg.residual_channels, use_bias=False, dtype=dt)
    n = len(cfg.dilations)
    shape = (cfg.kernel_size, cfg.residual_channels, cfg.dilation_channels)
    self.filter_kernels = [self.param(f"filter{i}", conv_init, shape, jnp.float32)
                           for i in range(n)]
    self.gate_kernels = [self.param(f"gate{i}", conv_init, shape, jnp.float32)
                         for i in range(n)]
    self.residual = [nn.Dense(cfg.residual_channels, use_bias=False, dtype=dt,
                              name=f"residual{i}") for i in range(n)]
    self.skip = [nn.Dense(cfg.skip_channels, use_bias=False, dtype=dt,
                          name=f"skip{i}") for i in range(n)]
    self.end1 = nn.Dense(cfg.end_channels, dtype=dt)
    self.end2 = nn.Dense(quantization.NUM_CODES, dtype=dt)
    self.readout = nn.Dense(quantization.NUM_CODES, dtype=dt)

  def _layer(self, i: int, x_BxLxC: jax.Array, dilation: int):
    """Layer i on inputs [B, L, C]: (z [B, L - d, D], new x [B, L - d, C])."""
    f = _dilated_conv(x_BxLxC, self.filter_kernels[i], dilation)
    g = _dilated_conv(x_BxLxC, self.gate_kernels[i], dilation)
    z = jnp.tanh(f) * jax.nn.sigmoid(g)
    return z, self.residual[i](z) + x_BxLxC[:, dilation * (self.config.kernel_size - 1):]

  def _head(self, skip_BxKxS: jax.Array) -> jax.Array:
    h = jax.nn.relu(self.end1(jax.nn.relu(skip_BxKxS)))
    return self.readout(self.end2(h)).astype(jnp.float32)

  def __call__(self, inputs_BxL: jax.Array, *, num_outputs: int) -> jax.Array:
    """Codes [B, L] -> logits [B, num_outputs, 256] of the last positions, each
    predicting the code after its input; L >= num_outputs + receptive_field - 1."""
    x = self.start(self.embed(inputs_BxL))
    skip = 0.0
    for i, d in enumerate(self.config.dilations):
      z, x = self._layer(i, x, d)
      skip = skip + self.skip[i](z[:, -num_outputs:])
    return self._head(skip)

  def layer_inputs(self, inputs_BxL: jax.Array) -> list[jax.Array]:
    """Every layer's input sequence [B, L_i, C] (generation priming)."""
    x = self.start(self.embed(inputs_BxL))
    outs = []
    for i, d in enumerate(self.config.dilations):
      outs.append(x)
      _, x = self._layer(i, x, d)
    return outs

  def step(self, rings: list[jax.Array], t: jax.Array, codes_B: jax.Array):
    """Pushes one code per row at position t through every layer.

    rings[i] is [B, d_i + 1, C]: layer i's inputs, position p in slot p % (d_i + 1).
    Returns (rings, logits [B, 256] of the code after position t).
    """
    x = self.start(self.embed(codes_B))  # [B, C]
    new_rings, skip = [], 0.0
    for i, d in enumerate(self.config.dilations):
      ring = rings[i].at[:, t % (d + 1)].set(x.astype(rings[i].dtype))
      taps = ring[:, jnp.stack([(t - d) % (d + 1), t % (d + 1)])]  # [B, 2, C]
      z, x = self._step_layer(i, taps)
      skip = skip + self.skip[i](z)
      new_rings.append(ring)
    return new_rings, self._head(skip)

  def _step_layer(self, i: int, taps_Bx2xC: jax.Array):
    """Layer i at one position from its two taps (oldest first): (z [B, D], x [B, C])."""
    f = _dilated_conv(taps_Bx2xC, self.filter_kernels[i], 1)[:, 0]
    g = _dilated_conv(taps_Bx2xC, self.gate_kernels[i], 1)[:, 0]
    z = jnp.tanh(f) * jax.nn.sigmoid(g)
    return z, self.residual[i](z) + taps_Bx2xC[:, -1]


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class WaveNetState:
  """Sampling state: every layer's input ring, the position, the next logits."""

  rings: list[jax.Array]   # layer i: [B, d_i + 1, C]
  t: jax.Array             # int32 scalar: position of the newest code
  logits: jax.Array        # [B, 256]: the next code's


@dataclasses.dataclass(frozen=True)
class WaveNet(AudioModel):
  """s4's WaveNet baseline behind the shared interface."""

  config: WaveNetConfig
  name = "wavenet"
  config_class = WaveNetConfig
  module_class = WaveNetModule

  @property
  def left_context(self) -> int:
    return self.config.receptive_field

  def init(self, rng):
    codes = np.zeros((1, self.config.receptive_field), np.int32)
    return compiled_init(self.module, codes, num_outputs=1)(rng)

  def _inputs(self, codes_BxT, num_targets: int):
    """The codes before the last num_targets positions, receptive-field deep."""
    t = codes_BxT.shape[1]
    need = num_targets + self.config.receptive_field - 1
    inputs = codes_BxT[:, max(t - 1 - need, 0):t - 1]
    return jnp.pad(inputs, ((0, 0), (need - inputs.shape[1], 0)),
                   constant_values=self.silence)

  def logits(self, params, codes_BxT, *, num_targets, train=False, rng=None):
    del train, rng  # no dropout (s4's WaveNet has none)
    if not 1 <= num_targets <= codes_BxT.shape[1]:
      raise ValueError(f"num_targets={num_targets} must lie in [1, "
                       f"{codes_BxT.shape[1]}] (the row length)")
    return self.module.apply({"params": params}, self._inputs(codes_BxT, num_targets),
                             num_outputs=num_targets)

  def target_logits(self, params, codes_BxT, *, train=False, rng=None):
    del train, rng
    r = self.config.receptive_field
    inputs = codes_BxT[:, -r:]
    inputs = jnp.pad(inputs, ((0, 0), (r - inputs.shape[1], 0)),
                     constant_values=self.silence)
    return self.module.apply({"params": params}, inputs, num_outputs=1)[:, 0]

  def prime(self, params, prompt_BxP) -> WaveNetState:
    r = self.config.receptive_field
    codes = jnp.asarray(prompt_BxP, jnp.int32)[:, -r:]
    codes = jnp.pad(codes, ((0, 0), (r - codes.shape[1], 0)),
                    constant_values=self.silence)
    acts = self.module.apply({"params": params}, codes,
                             method=WaveNetModule.layer_inputs)
    t = r - 1
    rings = [ring(a, d + 1, t) for a, d in zip(acts, self.config.dilations)]
    logits = self.module.apply({"params": params}, codes, num_outputs=1)[:, 0]
    return WaveNetState(rings=rings, t=jnp.asarray(t, jnp.int32), logits=logits)

  def next_logits(self, params, state: WaveNetState):
    del params
    return state.logits

  def push(self, params, state: WaveNetState, codes_B) -> WaveNetState:
    t = state.t + 1
    rings, logits = self.module.apply({"params": params}, state.rings, t, codes_B,
                                      method=WaveNetModule.step)
    return WaveNetState(rings=rings, t=t, logits=logits)
