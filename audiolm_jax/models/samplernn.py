"""SampleRNN (`config.model.name = "samplernn"`): the 3-tier baseline of Table 1, as
state-spaces/s4 trained it on YouTubeMix (35.03M parameters; docs/design.md, "The
baselines' sources").

Frame sizes (8, 2, 2): tier k reads frames of n_k = 8, 16, 32 samples. For targets
t = 0 .. T-1 of a segment (T a multiple of 32, frames aligned to the stream's start):

    top tier   frame j of 32 targets <- the 32 samples before it (2 * dequantized),
               weight-normed 1x1 to H, + nothing, GRU(H), learned upsampling x2
    tier 2     frame of 16 <- the 16 samples before it, 1x1 to H, + the top tier's
               output for its half, GRU(H), upsampling x2
    tier 1     frame of 8 <- the 8 samples before it, 1x1 to H, + tier 2's output,
               GRU(H), upsampling x8: one conditioning vector per target
    sample MLP target t <- Embed(the 8 codes before it) as one kernel-8 conv (no bias)
               + its conditioning, ReLU, 1x1 H, ReLU, 1x1 to 256 (all weight-normed)

GRUs follow PyTorch's equations; every GRU starts a stream from a learned h0. Each
prediction reads the whole past of its stream through the GRU states: the context is
unbounded (`left_context` None). Training uses truncated backprop through time: the
pipeline hands each batch row consecutive segments of one file, the GRU states
("carry") travel in the train state, and a row whose segment starts a file resets to
h0. `logits` on a plain row runs the stream from the row's start (silence before it).

Incremental sampling keeps the last 32 codes, each tier's GRU state and its current
upsampled conditioning; a tier runs only when a new frame of its size begins.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from audiolm_jax.data import quantization
from audiolm_jax.models.interface import AudioModel, compiled_init

DTYPES = ("float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class SampleRNNConfig:
  """Hyperparameters; defaults are s4's YouTubeMix SampleRNN (35.03M parameters)."""

  quantization: str = "mu_law"          # the codes it reads: mu_law | linear
  frame_sizes: tuple[int, ...] = (8, 2, 2)  # bottom tier first (samples 8, 16, 32)
  hidden: int = 1024                    # GRU and conditioning width
  embedding_dim: int = 256              # the sample MLP's code embedding (d_model)
  eval_context: int = 16_000            # samples a validation window warms up on
  dtype: str = "float32"                # compute dtype; parameters are float32
  scan_unroll: int = 1                  # GRU steps per loop iteration (0: unrolled;
                                        # XLA counts the FLOPs of a loop body once)

  def __post_init__(self):
    object.__setattr__(self, "frame_sizes", tuple(self.frame_sizes))
    problems = []
    if self.quantization not in quantization.KINDS:
      problems.append(f"quantization={self.quantization!r}; use one of "
                      f"{quantization.KINDS}")
    if self.dtype not in DTYPES:
      problems.append(f"dtype={self.dtype!r}; use one of {DTYPES}")
    if not self.frame_sizes or min(self.frame_sizes) < 1:
      problems.append(f"frame_sizes={self.frame_sizes} must be positive integers")
    for name in ("hidden", "embedding_dim"):
      if getattr(self, name) < 1:
        problems.append(f"{name}={getattr(self, name)} must be >= 1")
    if self.scan_unroll < 0:
      problems.append(f"scan_unroll={self.scan_unroll} must be >= 0 (0: unrolled)")
    if self.eval_context < 0:
      problems.append(f"eval_context={self.eval_context} must be >= 0")
    if problems:
      raise ValueError("invalid SampleRNNConfig:\n  - " + "\n  - ".join(problems))

  @property
  def tier_samples(self) -> tuple[int, ...]:
    """Samples per frame of each tier, bottom first: (8, 16, 32)."""
    return tuple(int(x) for x in np.cumprod(self.frame_sizes))

  @property
  def lookback(self) -> int:
    """Samples before a segment that its first frames read (the top frame: 32)."""
    return self.tier_samples[-1]

  def replace(self, **changes) -> "SampleRNNConfig":
    return dataclasses.replace(self, **changes)


def _add_bias(y, bias):
  """y [..., *bias.shape] + bias, with the ranks spelled out (no implicit promotion)."""
  return y + bias.astype(y.dtype).reshape((1,) * (y.ndim - bias.ndim) + bias.shape)


def _weight_norm(v, g, axis):
  """w = g * v / ||v||, the norm taken over every axis but `axis` (PyTorch's dim)."""
  axes = tuple(i for i in range(v.ndim) if i != axis % v.ndim)
  return v * (g / jnp.sqrt(jnp.sum(jnp.square(v), axis=axes, keepdims=True)))


class WNDense(nn.Module):
  """Weight-normed dense layer (norm per output feature), as torch's weight_norm."""

  features: int
  use_bias: bool = True
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x):
    v = self.param("v", nn.initializers.lecun_normal(), (x.shape[-1], self.features),
                   jnp.float32)
    g = self.param("g", lambda _, s: jnp.linalg.norm(v, axis=0).reshape(s),
                   (1, self.features))
    w = _weight_norm(v, g, axis=-1).astype(self.dtype)
    y = x.astype(self.dtype) @ w
    if self.use_bias:
      y = _add_bias(y, self.param("bias", nn.initializers.zeros, (self.features,),
                                  jnp.float32))
    return y


class Upsample(nn.Module):
  """Learned upsampling by `factor` (a stride-factor transposed conv, weight-normed
  per input channel, with a bias per output channel and phase): [B, M, H] ->
  [B, M * factor, H]."""

  factor: int
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x_BxMxH):
    h = x_BxMxH.shape[-1]
    bound = math.sqrt(6 / h)
    v = self.param("v", nn.initializers.uniform(2 * bound), (h, self.factor, h),
                   jnp.float32)
    v = v - bound  # uniform in [-bound, bound), as s4's init
    g = self.param("g", lambda _, s: jnp.sqrt(jnp.sum(v ** 2, axis=(1, 2))).reshape(s),
                   (h, 1, 1))
    bias = self.param("bias", nn.initializers.zeros, (self.factor, h), jnp.float32)
    w = _weight_norm(v, g, axis=0).astype(self.dtype)
    y = _add_bias(jnp.einsum("bmi,ifo->bmfo", x_BxMxH.astype(self.dtype), w), bias)
    return y.reshape(y.shape[0], -1, h)


class GRU(nn.Module):
  """One GRU layer with PyTorch's equations and a learned initial state h0."""

  hidden: int
  dtype: str = "float32"
  unroll: int = 1  # steps per scan iteration; 0 unrolls the whole sequence

  def setup(self):
    h = self.hidden
    self.w_ih = self.param("w_ih", nn.initializers.lecun_normal(), (h, 3 * h),
                           jnp.float32)
    self.w_hh = self.param("w_hh", _gru_hh_init, (h, 3 * h), jnp.float32)
    self.b_ih = self.param("b_ih", nn.initializers.zeros, (3 * h,), jnp.float32)
    self.b_hh = self.param("b_hh", nn.initializers.zeros, (3 * h,), jnp.float32)
    self.h0 = self.param("h0", nn.initializers.zeros, (h,), jnp.float32)

  def initial(self, batch: int):
    return jnp.broadcast_to(self.h0, (batch, self.hidden))

  def cell(self, h_BxH, gi_Bx3H):
    """One step from precomputed input projections gi = x W_ih + b_ih."""
    dt = self.dtype
    gh = _add_bias(h_BxH.astype(dt) @ self.w_hh.astype(dt), self.b_hh)
    ir, iz, i_n = jnp.split(gi_Bx3H, 3, axis=-1)
    hr, hz, hn = jnp.split(gh, 3, axis=-1)
    r = jax.nn.sigmoid(ir + hr)
    z = jax.nn.sigmoid(iz + hz)
    n = jnp.tanh(i_n + r * hn)
    return ((1 - z) * n + z * h_BxH.astype(dt)).astype(jnp.float32)

  def __call__(self, x_BxMxH, h_BxH):
    """Runs over M steps: (outputs [B, M, H], last state [B, H]) (float32 state)."""
    dt = self.dtype
    gi = _add_bias(x_BxMxH.astype(dt) @ self.w_ih.astype(dt), self.b_ih)

    def step(h, gi_t):
      h = self.cell(h, gi_t)
      return h, h

    last, outs = jax.lax.scan(step, h_BxH, jnp.swapaxes(gi, 0, 1),
                              unroll=self.unroll or True)
    return jnp.swapaxes(outs, 0, 1), last


def _gru_hh_init(key, shape, dtype):
  """Recurrent weights: LeCun for the reset and update gates, orthogonal for the
  candidate (s4's reproduction of SampleRNN)."""
  h = shape[0]
  k1, k2 = jax.random.split(key)
  gates = nn.initializers.lecun_normal()(k1, (h, 2 * h), dtype)
  cand = nn.initializers.orthogonal()(k2, (h, h), dtype)
  return jnp.concatenate([gates, cand], axis=1)


class SampleRNNModule(nn.Module):
  """The three tiers and the sample-level MLP."""

  config: SampleRNNConfig

  def setup(self):
    cfg = self.config
    dt = cfg.dtype
    n_tiers = len(cfg.frame_sizes)
    self.expand = [WNDense(cfg.hidden, dtype=dt, name=f"expand{k}")
                   for k in range(n_tiers)]
    self.grus = [GRU(cfg.hidden, dtype=dt, unroll=cfg.scan_unroll, name=f"gru{k}")
                 for k in range(n_tiers)]
    self.upsample = [Upsample(f, dtype=dt, name=f"upsample{k}")
                     for k, f in enumerate(cfg.frame_sizes)]
    self.embed = nn.Embed(quantization.NUM_CODES, cfg.embedding_dim, dtype=dt)
    self.mlp_in = WNDense(cfg.hidden, use_bias=False, dtype=dt)
    self.mlp_hidden = WNDense(cfg.hidden, dtype=dt)
    self.mlp_out = WNDense(quantization.NUM_CODES, dtype=dt)

  def _amplitude(self, codes):
    # s4's SampleRNN feeds its tiers 2 x the dequantized amplitude.
    table = jnp.asarray(quantization.decode_table(self.config.quantization))
    return 2.0 * table[codes.astype(jnp.int32)]

  def initial_carry(self, batch: int) -> jax.Array:
    """h0 of every tier: [B, tiers, H]."""
    return jnp.stack([g.initial(batch) for g in self.grus], axis=1)

  def __call__(self, codes_BxL: jax.Array, carry_BxKxH: jax.Array):
    """A segment: codes [B, lookback + T] (T a multiple of the top frame) ->
    (logits [B, T, 256] for its last T codes, carry [B, tiers, H])."""
    cfg = self.config
    lb = cfg.lookback
    t = codes_BxL.shape[1] - lb
    x = self._amplitude(codes_BxL)
    cond, carry = None, []
    for k in reversed(range(len(cfg.frame_sizes))):
      n = cfg.tier_samples[k]
      frames = x[:, lb - n:lb - n + t].reshape(x.shape[0], t // n, n)
      inp = self.expand[k](frames)
      if cond is not None:
        inp = inp + cond
      out, last = self.grus[k](inp, carry_BxKxH[:, k])
      carry.append(last)
      cond = self.upsample[k](out)  # [B, T / n * f_k, H]
    carry = jnp.stack(carry[::-1], axis=1)
    f0 = cfg.frame_sizes[0]
    index = np.arange(t)[:, None] + np.arange(f0)[None, :]  # target i: codes i..i+7
    prev = self.embed(codes_BxL[:, lb - f0:lb + t - 1])[:, index]  # [B, T, 8, E]
    return self._mlp(prev.reshape(*prev.shape[:2], -1), cond), carry

  def _mlp(self, prev_BxTxFE, cond_BxTxH):
    h = jax.nn.relu(self.mlp_in(prev_BxTxFE) + cond_BxTxH)
    h = jax.nn.relu(self.mlp_hidden(h))
    return self.mlp_out(h).astype(jnp.float32)

  def tier_step(self, k: int, frame_BxN: jax.Array, cond_BxH, h_BxH):
    """Tier k on one frame: (its upsampled outputs [B, f_k, H], new state)."""
    inp = self.expand[k](self._amplitude(frame_BxN)[:, None])[:, 0]
    if cond_BxH is not None:
      inp = inp + cond_BxH
    gru = self.grus[k]
    gi = _add_bias(inp.astype(gru.dtype) @ gru.w_ih.astype(gru.dtype), gru.b_ih)
    h = gru.cell(h_BxH, gi)
    return self.upsample[k](h[:, None].astype(h.dtype))[:, :], h

  def mlp_step(self, prev_BxF: jax.Array, cond_BxH: jax.Array) -> jax.Array:
    """The sample MLP for one position from its 8 previous codes: logits [B, 256]."""
    e = self.embed(prev_BxF)
    return self._mlp(e.reshape(e.shape[0], -1), cond_BxH)


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class SampleRNNState:
  """Sampling state of every stream."""

  window: jax.Array        # [B, lookback] the last codes, oldest first
  t: jax.Array             # int32: the position of the next code in the stream
  h: jax.Array             # [B, tiers, H] GRU states
  conds: list[jax.Array]   # tier k: [B, f_k, H], its outputs for its current frame
  logits: jax.Array        # [B, 256] of the next code


@dataclasses.dataclass(frozen=True)
class SampleRNN(AudioModel):
  """s4's SampleRNN baseline behind the shared interface (stateful: TBPTT)."""

  config: SampleRNNConfig
  name = "samplernn"
  config_class = SampleRNNConfig
  module_class = SampleRNNModule
  stateful = True

  @property
  def left_context(self) -> None:
    return None

  @property
  def window_context(self) -> int:
    return self.config.lookback

  @property
  def eval_context(self) -> int:
    return self.config.eval_context

  def init(self, rng):
    cfg = self.config
    codes = np.zeros((1, cfg.lookback * 2), np.int32)
    carry = np.zeros((1, len(cfg.frame_sizes), cfg.hidden), np.float32)
    return compiled_init(self.module, codes, carry)(rng)

  def initial_carry(self, params, batch: int) -> jax.Array:
    return self.module.apply({"params": params}, batch,
                             method=SampleRNNModule.initial_carry)

  def logits_with_carry(self, params, codes_BxL, carry, reset_B, *, train=False,
                        rng=None):
    """A TBPTT segment: codes [B, lookback + T] -> (logits [B, T, 256], carry).

    Rows with reset_B set start a new stream (their carry becomes h0)."""
    del train, rng  # no dropout
    h0 = self.initial_carry(params, codes_BxL.shape[0])
    carry = jnp.where(reset_B[:, None, None], h0, carry)
    return self.module.apply({"params": params}, codes_BxL, carry)

  def logits(self, params, codes_BxT, *, num_targets, train=False, rng=None):
    """The stream from the row's start (silence before it, h0): the last K logits."""
    batch, length = codes_BxT.shape
    if not 1 <= num_targets <= length:
      raise ValueError(f"num_targets={num_targets} must lie in [1, {length}]")
    lb, top = self.config.lookback, self.config.tier_samples[-1]
    pad = -length % top  # causal: codes after the row change no logit of it
    codes = jnp.pad(codes_BxT, ((0, 0), (lb, pad)), constant_values=self.silence)
    logits, _ = self.module.apply({"params": params}, codes,
                                  self.initial_carry(params, batch))
    return logits[:, length - num_targets:length]

  # ---- Incremental sampling -------------------------------------------------------

  def _advance(self, params, state: SampleRNNState) -> SampleRNNState:
    """Runs the tiers whose frame starts at state.t, then the MLP: the next logits."""
    cfg = self.config
    h, conds = state.h, list(state.conds)
    apply = lambda *a, **kw: self.module.apply({"params": params}, *a, **kw)
    for k in reversed(range(len(cfg.frame_sizes))):
      n = cfg.tier_samples[k]
      upper = None
      if k + 1 < len(cfg.frame_sizes):
        upper = conds[k + 1][:, (state.t // n) % cfg.frame_sizes[k + 1]]

      def run(hc, k=k, n=n, upper=upper):
        out, hk = apply(k, state.window[:, -n:], upper, hc[0][:, k],
                        method=SampleRNNModule.tier_step)
        return hc[0].at[:, k].set(hk), out.astype(hc[1].dtype)

      h, conds[k] = jax.lax.cond(state.t % n == 0, run, lambda hc: hc, (h, conds[k]))
    f0 = cfg.frame_sizes[0]
    logits = apply(state.window[:, -f0:], conds[0][:, state.t % f0],
                   method=SampleRNNModule.mlp_step)
    return SampleRNNState(window=state.window, t=state.t, h=h, conds=conds,
                          logits=logits)

  def prime(self, params, prompt_BxP) -> SampleRNNState:
    cfg = self.config
    prompt = jnp.asarray(prompt_BxP, jnp.int32)
    batch = prompt.shape[0]
    dt = jnp.float32 if cfg.dtype == "float32" else jnp.bfloat16
    state = SampleRNNState(
        window=jnp.full((batch, cfg.lookback), self.silence, jnp.int32),
        t=jnp.zeros((), jnp.int32), h=self.initial_carry(params, batch),
        conds=[jnp.zeros((batch, f, cfg.hidden), dt) for f in cfg.frame_sizes],
        logits=jnp.zeros((batch, quantization.NUM_CODES), jnp.float32))
    state = self._advance(params, state)
    state, _ = jax.lax.scan(lambda s, c: (self.push(params, s, c), None), state,
                            jnp.swapaxes(prompt, 0, 1))
    return state

  def next_logits(self, params, state: SampleRNNState):
    del params
    return state.logits

  def push(self, params, state: SampleRNNState, codes_B) -> SampleRNNState:
    window = jnp.concatenate([state.window[:, 1:], codes_B.astype(jnp.int32)[:, None]],
                             axis=1)
    return self._advance(params, dataclasses.replace(state, window=window,
                                                     t=state.t + 1))
