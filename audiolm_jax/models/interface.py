"""`AudioModel`: what training, evaluation, sampling and the benchmarks ask of a model.

Every model family (`config.model.name`) implements this small surface over its own
Flax module; nothing outside `models/` knows which family it runs. All methods are
pure functions of (params, arrays), so callers jit them with the model as a static
argument (an `AudioModel` is a frozen dataclass: hashable, compared by its config).

Codes are integers in [0, 256). Rows are causal: logit k of a row predicts the code
at position T - K + k from the codes before it, and positions before the row's first
sample hold the silence code of the model's quantization.

A stateful family (`stateful = True`, a recurrent model) also trains with truncated
backprop through time: `logits_with_carry` runs one segment from a carried state, and
`window_context` / `eval_context` say how much audio a training / validation window
holds before its targets.

Incremental sampling is three functions over a family-specific state (a pytree):
`prime` reads a prompt, `next_logits` predicts the next code, `push` appends one code.
`generation.sampler` builds one step and jitted blocks of steps from them.
"""

from __future__ import annotations

import abc
from typing import Any

import jax
import numpy as np

from audiolm_jax.data import quantization as quant_lib

Params = Any
State = Any


class AudioModel(abc.ABC):
  """One model family's implementation of the shared interface."""

  name: str           # the family's `config.model.name`
  config: Any         # its frozen config dataclass (with a `quantization` field)
  module_class: type  # its Flax module, built from the config

  # ---- Description ----------------------------------------------------------------

  @property
  def module(self):
    """The family's Flax module for this config."""
    return self.module_class(self.config)

  @property
  def quantization(self) -> str:
    """The code recipe the model reads ("mu_law" or "linear")."""
    return self.config.quantization

  @property
  def silence(self) -> int:
    """The code of silence: what positions before a row's start hold."""
    return quant_lib.silence_code(self.quantization)

  @property
  @abc.abstractmethod
  def left_context(self) -> int | None:
    """Samples of left context a prediction reads; None for unbounded (recurrent)."""

  stateful = False  # True: trained by TBPTT over consecutive segments

  @property
  def window_context(self) -> int:
    """Codes a training window holds before its targets (the left context, or a
    stateful model's lookback: its carry holds the rest)."""
    return self.left_context

  @property
  def eval_context(self) -> int:
    """Codes a validation or `sampled` window holds before its scored targets."""
    return self.left_context

  # ---- Parameters and training ----------------------------------------------------

  @abc.abstractmethod
  def init(self, rng: jax.Array) -> Params:
    """float32 parameters."""

  @abc.abstractmethod
  def logits(self, params: Params, codes_BxT: jax.Array, *, num_targets: int,
             train: bool = False, rng: jax.Array | None = None) -> jax.Array:
    """float32 logits [B, num_targets, 256] for the last num_targets codes of each row.

    With train=True, `rng` drives dropout.
    """

  def target_logits(self, params: Params, codes_BxT: jax.Array, *, train: bool = False,
                    rng: jax.Array | None = None) -> jax.Array:
    """Logits [B, 256] of the code right after each row: one target per context.

    The default pads the row with one placeholder code and reads the dense path's
    last logit (causality makes the placeholder irrelevant); a family may override
    it with a cheaper or more literal computation.
    """
    padded = jax.numpy.pad(codes_BxT, ((0, 0), (0, 1)))
    return self.logits(params, padded, num_targets=1, train=train, rng=rng)[:, 0]

  def initial_carry(self, params: Params, batch: int) -> Any:
    """A stateful model's state at a stream's start, for `batch` rows."""
    raise NotImplementedError(f"{self.name} is not stateful")

  def logits_with_carry(self, params: Params, codes_BxL: jax.Array, carry: Any,
                        reset_B: jax.Array, *, train: bool = False,
                        rng: jax.Array | None = None) -> tuple[jax.Array, Any]:
    """One TBPTT segment: codes [B, window_context + T] -> (logits [B, T, 256] of
    its last T codes, the carry after them); rows with reset_B start a stream."""
    raise NotImplementedError(f"{self.name} is not stateful")

  # ---- Incremental sampling -------------------------------------------------------

  @abc.abstractmethod
  def prime(self, params: Params, prompt_BxP: jax.Array) -> State:
    """The sampling state after reading a prompt [B, P] (P may be 0: silence)."""

  @abc.abstractmethod
  def next_logits(self, params: Params, state: State) -> jax.Array:
    """float32 logits [B, 256] of the next code (eval mode)."""

  @abc.abstractmethod
  def push(self, params: Params, state: State, codes_B: jax.Array) -> State:
    """The state after appending one code per row."""


  # ---- Optional capabilities ----------------------------------------------------
  # A family declares them by overriding; callers ask before they use one, so nothing
  # outside `models/` needs to know which family it runs.

  @property
  def context_tokens(self) -> int | None:
    """Chunk tokens a prediction reads, for a family whose context is a sequence of
    chunk tokens (the paper's model); None for every other family."""
    return None

  @property
  def token_samples(self) -> int | None:
    """Samples per context token, where `context_tokens` is not None."""
    return None

  @property
  def target_path(self) -> str:
    """What `target_logits` computes, in words (evaluation reports name it)."""
    return f"{self.name}'s target_logits"


def count_params(params) -> int:
  """Total number of scalars in a parameter tree (any family's)."""
  return int(sum(np.size(x) for x in jax.tree.leaves(params)))


_COMPILED_INITS: dict = {}


def compiled_init(module, *example_args, **example_kwargs):
  """`module.init(key, *example)["params"]`, jitted once per module (XLA takes
  seconds to compile the initializers). The examples must be NumPy arrays or Python
  values, never traced arrays: the first call may come from inside an outer trace."""
  if module not in _COMPILED_INITS:
    _COMPILED_INITS[module] = jax.jit(
        lambda key: module.init(key, *example_args, **example_kwargs)["params"])
  return _COMPILED_INITS[module]
