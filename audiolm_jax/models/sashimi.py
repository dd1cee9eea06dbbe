"""SaShiMi (`config.model.name = "sashimi"`): the strongest row of Table 1 (Goel et
al. 2022, as state-spaces/s4 trained it on YouTubeMix; docs/design.md, "The
baselines' sources").

    codes shifted right (silence first) -> Embed(256, 64)
    -> DownPool(4, x2) -> DownPool(4, x2)               (64 -> 128 -> 256 channels)
    -> center: n_layers x [Residual(S4), Residual(FF)] at 256 channels, + skip
    -> UpPool(4) + skip, n_layers x [...] at 128 channels, + skip
    -> UpPool(4) + skip, n_layers x [...] at 64 channels, + skip
    -> LayerNorm -> Linear(64, 256)

Residual(f)(x) = x + f(LayerNorm(x)) (pre-norm); FF = Linear(2H), GELU, Linear(H).
Causality: down-pool frame j holds inputs [4j, 4j + 4); the up-pool shifts its output
one coarse step right (zeros first) before spreading it over the fine positions, so
position t reads coarse frames that ended before t's own frame and no position sees
its future (tested). The S4 kernels span the whole sequence: the context is
unbounded. A model input t is code t - 1, so logits t predict code t.

**The S4 layer** is the diagonal form S4D (Gu et al. 2022) with the LegS
initialization, not the diagonal-plus-low-rank (DPLR) S4 that SaShiMi's paper used.
Why: the DPLR kernel needs a Cauchy kernel and a Woodbury correction, numerically
delicate code, while S4D-LegS matched S4-LegS in the S4D paper. What it changes: no
low-rank term (64 parameters less per layer) and zero-order-hold discretization
instead of bilinear. A is diagonal, initialized to the eigenvalues of the normal part
of HiPPO-LegS (-1/2 + i w_n), B to HiPPO-LegS's B in that eigenbasis; A and B are
shared by the channels (s4's n_ssm = 1); C, D and one step size per channel are
trained. Its two modes are exact:

* convolution: K[h, l] = 2 Re(sum_n C[h,n] dB[h,n] dA[h,n]^l), l < L (computed in
  sqrt(L) blocks, `vandermonde_kernel`), applied with an FFT of length 2L; the kernel
  is computed once per call, for every example;
* recurrence: x_t = dA x_{t-1} + dB u_t, y_t = 2 Re(C x_t) + D u_t (generation).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from audiolm_jax.data import quantization
from audiolm_jax.models.interface import AudioModel, compiled_init


@dataclasses.dataclass(frozen=True)
class SashimiConfig:
  """Hyperparameters; defaults are SaShiMi's paper model (8 layers per stage)."""

  quantization: str = "mu_law"     # the codes it reads: mu_law | linear
  d_model: int = 64                # channels of the outer stage (and the embedding)
  n_layers: int = 8                # [S4, FF] pairs per stage (Table 1's row: 6)
  pool: tuple[int, ...] = (4, 4)   # down-pooling factors, outer first
  expand: int = 2                  # channels multiply by this at each pooling
  ff: int = 2                      # feed-forward expansion
  state_size: int = 64             # N: the S4 state size (N / 2 complex modes)
  dt_min: float = 0.001            # step sizes start log-uniform in [dt_min, dt_max]
  dt_max: float = 0.1
  eval_context: int = 16_000       # samples a validation window warms up on

  def __post_init__(self):
    object.__setattr__(self, "pool", tuple(self.pool))
    problems = []
    if self.quantization not in quantization.KINDS:
      problems.append(f"quantization={self.quantization!r}; use one of "
                      f"{quantization.KINDS}")
    for name in ("d_model", "n_layers", "expand", "ff"):
      if getattr(self, name) < 1:
        problems.append(f"{name}={getattr(self, name)} must be >= 1")
    if self.state_size < 2 or self.state_size % 2:
      problems.append(f"state_size={self.state_size} must be even and >= 2")
    if len(self.pool) != 2 or min(self.pool) < 1:
      problems.append(f"pool={self.pool}: two positive factors (SaShiMi's two tiers)")
    if problems:
      raise ValueError("invalid SashimiConfig:\n  - " + "\n  - ".join(problems))

  @property
  def frame(self) -> int:
    """Samples per coarsest frame (the product of the pools)."""
    return int(np.prod(self.pool))

  def replace(self, **changes) -> "SashimiConfig":
    return dataclasses.replace(self, **changes)


def legs_diagonal(n: int) -> tuple[np.ndarray, np.ndarray]:
  """S4D-LegS: (A [n/2], B [n/2]) complex, from HiPPO-LegS of size n.

  HiPPO-LegS = S - P P^T with S normal: S = -I/2 + a skew-symmetric matrix. A are
  the eigenvalues of S with positive imaginary part (the rest are conjugates) and
  B = V^* b, b_k = sqrt(2k + 1), in S's eigenbasis V.
  """
  q = np.sqrt(1 + 2 * np.arange(n, dtype=np.float64))
  lower = np.tril(np.outer(q, q), -1)
  s = -0.5 * np.eye(n) - 0.5 * (lower - lower.T)
  w, v = np.linalg.eig(s)
  keep = np.argsort(w.imag)[n // 2:]
  return w[keep], (v.conj().T @ q)[keep]


def vandermonde_kernel(weights_HxN, log_da_HxN, length: int) -> jax.Array:
  """K[h, l] = 2 Re(sum_n w[h, n] dA[h, n]^l) for l < length: [H, N] -> [H, L].

  Computed in blocks: with l = jT + r (T about sqrt(L)), dA^l = dA^(jT) dA^r, so K
  is one batched complex matmul of [H, L/T, N] by [H, N, T]. Its largest operand is
  H x N x max(T, L/T), not the H x N x L powers of the direct form, which at a
  131,072-sample window took 2 GiB per outer layer and 40 GiB to train SaShiMi.
  """
  block = 1 << max(0, (length - 1).bit_length() // 2)   # a power of two near sqrt(L)
  num_blocks = -(-length // block)
  inner = jnp.exp(log_da_HxN[..., None] * jnp.arange(block)[None, None])  # [H, N, T]
  outer = jnp.exp(log_da_HxN[..., None] * (block * jnp.arange(num_blocks))[None, None])
  k = jnp.einsum("hn,hnj,hnr->hjr", weights_HxN, outer, inner)           # [H, J, T]
  return 2.0 * k.reshape(k.shape[0], -1)[:, :length].real


class S4D(nn.Module):
  """One S4D layer over H channels then GELU and a linear map: [B, L, H] -> same."""

  channels: int
  config: SashimiConfig

  def setup(self):
    cfg, h = self.config, self.channels
    a, b = legs_diagonal(cfg.state_size)
    self.log_a_real = self.param(
        "log_a_real", lambda *_: jnp.asarray(np.log(-a.real), jnp.float32))
    self.a_imag = self.param("a_imag", lambda *_: jnp.asarray(a.imag, jnp.float32))
    self.b = self.param("b", lambda *_: jnp.asarray(np.stack([b.real, b.imag], -1),
                                                    jnp.float32))
    self.c = self.param("c", nn.initializers.normal(0.5 ** 0.5),
                        (h, cfg.state_size // 2, 2), jnp.float32)
    self.d = self.param("d", nn.initializers.normal(1.0), (h,), jnp.float32)
    lo, hi = np.log(cfg.dt_min), np.log(cfg.dt_max)
    self.log_dt = self.param(
        "log_dt", lambda key, s: jax.random.uniform(key, s, jnp.float32, lo, hi), (h,))
    self.out = nn.Dense(h)

  def discrete(self):
    """(dA, dB, C), each [H, N/2] complex64: zero-order hold of (A, B) with dt."""
    a = (-jnp.exp(self.log_a_real) + 1j * self.a_imag)[None, :]
    dt = jnp.exp(self.log_dt)[:, None]
    da = jnp.exp(dt * a)
    db = (da - 1.0) / a * (self.b[:, 0] + 1j * self.b[:, 1])[None, :]
    return da, db, self.c[..., 0] + 1j * self.c[..., 1]

  def kernel(self, length: int) -> jax.Array:
    """K [H, L] float32: the impulse response of every channel (without D)."""
    da, db, c = self.discrete()
    return vandermonde_kernel(c * db, jnp.log(da), length)

  def _post(self, y, u):
    d = self.d.reshape((1,) * (u.ndim - 1) + (-1,))
    return self.out(nn.gelu(y + u * d))

  def __call__(self, u_BxLxH: jax.Array) -> jax.Array:
    length = u_BxLxH.shape[1]
    k_LxH = self.kernel(length).T
    n = 2 * length  # zero-padded: a linear (causal) convolution, no wrap-around
    y = jnp.fft.irfft(jnp.fft.rfft(u_BxLxH, n, axis=1)
                      * jnp.fft.rfft(k_LxH, n, axis=0)[None], n, axis=1)[:, :length]
    return self._post(y.astype(u_BxLxH.dtype), u_BxLxH)

  def step(self, u_BxH: jax.Array, x_BxHxN: jax.Array):
    """One sample: (output [B, H], state [B, H, N/2] complex64)."""
    da, db, c = self.discrete()
    x = da[None] * x_BxHxN + db[None] * u_BxH[..., None]
    return self._post(2.0 * jnp.einsum("hn,bhn->bh", c, x).real, u_BxH), x


class FF(nn.Module):
  """Linear(H * expand), GELU, Linear(H)."""

  channels: int
  expand: int

  @nn.compact
  def __call__(self, x):
    return nn.Dense(self.channels)(nn.gelu(nn.Dense(self.channels * self.expand)(x)))


class Stage(nn.Module):
  """n_layers x [Residual(S4D), Residual(FF)] at one resolution."""

  channels: int
  config: SashimiConfig

  def setup(self):
    n = self.config.n_layers
    self.s4 = [S4D(self.channels, self.config) for _ in range(n)]
    self.ff = [FF(self.channels, self.config.ff) for _ in range(n)]
    self.norm_s4 = [nn.LayerNorm() for _ in range(n)]
    self.norm_ff = [nn.LayerNorm() for _ in range(n)]

  def __call__(self, x_BxLxH):
    for i in range(self.config.n_layers):
      x_BxLxH = x_BxLxH + self.s4[i](self.norm_s4[i](x_BxLxH))
      x_BxLxH = x_BxLxH + self.ff[i](self.norm_ff[i](x_BxLxH))
    return x_BxLxH

  def step(self, x_BxH, states):
    """One position of every layer: (output [B, H], the S4 states)."""
    new = []
    for i in range(self.config.n_layers):
      y, s = self.s4[i].step(self.norm_s4[i](x_BxH), states[i])
      x_BxH = x_BxH + y
      x_BxH = x_BxH + self.ff[i](self.norm_ff[i](x_BxH))
      new.append(s)
    return x_BxH, new

  def initial_states(self, batch: int):
    return [jnp.zeros((batch, self.channels, self.config.state_size // 2),
                      jnp.complex64) for _ in range(self.config.n_layers)]


class SashimiModule(nn.Module):
  """The U-Net of S4 stages over three resolutions."""

  config: SashimiConfig

  def setup(self):
    cfg = self.config
    h0 = cfg.d_model
    h1, h2 = h0 * cfg.expand, h0 * cfg.expand ** 2
    self.widths = (h0, h1, h2)
    self.embed = nn.Embed(quantization.NUM_CODES, h0)
    self.down = [nn.Dense(h1), nn.Dense(h2)]              # pooled frames -> wider
    self.center = Stage(h2, cfg)
    self.up = [nn.Dense(h1 * cfg.pool[1]), nn.Dense(h0 * cfg.pool[0])]
    self.stages = [Stage(h1, cfg), Stage(h0, cfg)]
    self.norm = nn.LayerNorm()
    self.readout = nn.Dense(quantization.NUM_CODES)

  def _down(self, i, x_BxLxH):
    p = self.config.pool[i]
    b, length, h = x_BxLxH.shape
    return self.down[i](x_BxLxH.reshape(b, length // p, p * h))

  def _up(self, i, x_BxMxH):
    """Coarse -> fine, shifted one coarse step (zeros first): causal."""
    p = self.config.pool[1 - i]
    y = self.up[i](x_BxMxH)
    y = jnp.pad(y[:, :-1], ((0, 0), (1, 0), (0, 0)))
    return y.reshape(y.shape[0], -1, y.shape[-1] // p)

  def __call__(self, inputs_BxL: jax.Array) -> jax.Array:
    """Input codes [B, L] (L a multiple of the frame) -> logits [B, L, 256]; logit t
    reads inputs 0..t."""
    x0 = self.embed(inputs_BxL)
    x1 = self._down(0, x0)
    x2 = self._down(1, x1)
    y = self.center(x2) + x2
    z = self._up(0, y) + x1
    y = self.stages[0](z) + z
    z = self._up(1, y) + x0
    y = self.stages[1](z) + z
    return self.readout(self.norm(y)).astype(jnp.float32)

  # ---- Recurrent mode (generation) ------------------------------------------------

  def initial_state(self, batch: int) -> dict:
    cfg = self.config
    h0, h1, h2 = self.widths
    p0, p1 = cfg.pool
    return {"buf0": jnp.zeros((batch, p0, h0)), "buf1": jnp.zeros((batch, p1, h1)),
            "pend_mid": jnp.zeros((batch, p1, h1)),
            "pend_fine": jnp.zeros((batch, p0, h0)),
            "center": self.center.initial_states(batch),
            "mid": self.stages[0].initial_states(batch),
            "fine": self.stages[1].initial_states(batch),
            "t": jnp.zeros((), jnp.int32)}

  def step(self, state: dict, code_B: jax.Array):
    """Input code at fine position state["t"] -> (logits [B, 256] there, state).

    The middle stage runs when a frame of pool[0] inputs completes, the center when
    pool[1] middle frames do; each up-pool emits one pending (shifted) output per
    step and is refilled, after its last one, from the coarser stage's new output.
    """
    p0, p1 = self.config.pool
    t = state["t"]
    m = t // p0
    x0 = self.embed(code_B)
    buf0 = state["buf0"].at[:, t % p0].set(x0)

    def middle(s):
      x1 = self.down[0](buf0.reshape(buf0.shape[0], -1))
      buf1 = s["buf1"].at[:, m % p1].set(x1)

      def center(s2):
        x2 = self.down[1](buf1.reshape(buf1.shape[0], -1))
        y2, states = self.center.step(x2, s2["center"])
        y2 = y2 + x2
        fresh = self.up[0](y2).reshape(y2.shape[0], p1, -1)
        return {**s2, "center": states, "pend_mid_next": fresh}

      s = {**s, "pend_mid_next": s["pend_mid"]}
      s = jax.lax.cond(m % p1 == p1 - 1, center, lambda s2: s2, s)
      z1 = s["pend_mid"][:, m % p1] + x1
      y1, states = self.stages[0].step(z1, s["mid"])
      y1 = y1 + z1
      fresh = self.up[1](y1).reshape(y1.shape[0], p0, -1)
      pend_mid = jnp.where(m % p1 == p1 - 1, s["pend_mid_next"], s["pend_mid"])
      s = {k: v for k, v in s.items() if k != "pend_mid_next"}
      return {**s, "buf1": buf1, "mid": states, "pend_mid": pend_mid,
              "pend_fine_next": fresh}

    s = {**state, "buf0": buf0, "pend_fine_next": state["pend_fine"]}
    s = jax.lax.cond(t % p0 == p0 - 1, middle, lambda s_: s_, s)
    z0 = state["pend_fine"][:, t % p0] + x0
    y0, states = self.stages[1].step(z0, s["fine"])
    y0 = y0 + z0
    logits = self.readout(self.norm(y0)).astype(jnp.float32)
    pend_fine = jnp.where(t % p0 == p0 - 1, s["pend_fine_next"], s["pend_fine"])
    s = {k: v for k, v in s.items() if k != "pend_fine_next"}
    return logits, {**s, "fine": states, "pend_fine": pend_fine, "t": t + 1}


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class SashimiState:
  layers: dict          # the module's recurrent state
  logits: jax.Array     # [B, 256] of the next code


@dataclasses.dataclass(frozen=True)
class Sashimi(AudioModel):
  """SaShiMi (S4D-LegS) behind the shared interface."""

  config: SashimiConfig
  name = "sashimi"
  config_class = SashimiConfig
  module_class = SashimiModule

  @property
  def left_context(self) -> None:
    return None

  @property
  def window_context(self) -> int:
    return 0  # trained as s4 trains it: every position of a window, context reset

  @property
  def eval_context(self) -> int:
    return self.config.eval_context

  def init(self, rng):
    codes = np.zeros((1, self.config.frame), np.int32)
    return compiled_init(self.module, codes)(rng)

  def logits(self, params, codes_BxT, *, num_targets, train=False, rng=None):
    """One pass from the row's start (silence before it): the last K logits."""
    del train, rng  # dropout 0, as SaShiMi's
    length = codes_BxT.shape[1]
    if not 1 <= num_targets <= length:
      raise ValueError(f"num_targets={num_targets} must lie in [1, {length}]")
    pad = -length % self.config.frame  # causal: codes after the row reach nothing
    inputs = jnp.pad(codes_BxT[:, :-1], ((0, 0), (1, pad)),
                     constant_values=self.silence)
    logits = self.module.apply({"params": params}, inputs)
    return logits[:, length - num_targets:length]

  def prime(self, params, prompt_BxP) -> SashimiState:
    prompt = jnp.asarray(prompt_BxP, jnp.int32)
    batch = prompt.shape[0]
    layers = self.module.apply({"params": params}, batch,
                               method=SashimiModule.initial_state)
    first = jnp.full((batch,), self.silence, jnp.int32)
    state = self._step(params, SashimiState(layers, jnp.zeros((batch, 256))), first)
    state, _ = jax.lax.scan(lambda s, c: (self.push(params, s, c), None), state,
                            jnp.swapaxes(prompt, 0, 1))
    return state

  def _step(self, params, state: SashimiState, codes_B) -> SashimiState:
    logits, layers = self.module.apply({"params": params}, state.layers,
                                       codes_B.astype(jnp.int32),
                                       method=SashimiModule.step)
    return SashimiState(layers, logits)

  def next_logits(self, params, state: SashimiState):
    del params
    return state.logits

  def push(self, params, state: SashimiState, codes_B) -> SashimiState:
    return self._step(params, state, codes_B)
