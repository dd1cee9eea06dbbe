"""`CNNTransformerConfig`: the frozen description of the model, its derived geometry, presets.

The CNN front-end is a stack of VALID 1-D convolutions followed by a flatten and a
linear map to one token. Its receptive field R is derived here (docs/design.md, "The
receptive field"): the encoder reads the LAST R samples of each chunk, so the newest
token always sees the sample right before the target.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from audiolm_jax.data import quantization as quant_lib

DTYPES = ("float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class CNNTransformerConfig:
  """Hyperparameters of the model; defaults are the paper's 128k-context model."""

  # Input.
  quantization: str = "mu_law"  # "mu_law" (mu = 255) or "linear" 8-bit codes.
  chunk_size: int = 2000        # samples per token (non-overlapping chunks).
  context: int = 128_000        # samples the model conditions on; multiple of chunk.
  # CNN front-end (shared over chunks).
  conv_features: tuple[int, ...] = (256, 256, 128, 128, 32)
  conv_strides: tuple[int, ...] = (2, 3, 2, 3, 2)
  conv_kernel: int = 7
  token_dim: int = 128          # the width of a token and of the Transformer.
  encoder_dropout: float = 0.2  # on the last conv layer's output (the flatten).
  # Transformer over the tokens of one context.
  num_layers: int = 3
  num_heads: int = 8
  mlp_dim: int = 256
  token_dropout: float = 0.1    # drops whole tokens: input and between blocks.
  # Head on the newest token.
  head_hidden: int = 1024
  head_dropout: float = 0.2
  num_classes: int = quant_lib.NUM_CODES
  # Not in the paper (off in every shipped config): the newest token also gets a linear
  # map of the last `local_samples` samples' encoder inputs (0: the paper's model). The
  # strided encoder squeezes a whole chunk into one token, so the exact values of the
  # last few samples, which predict the next one best, are slow to learn through it.
  local_samples: int = 0
  # Numerics.
  dtype: str = "float32"        # compute dtype; parameters are always float32.
  remat_encoder: bool = False   # recompute encoder activations in the backward pass.
  # Dense path: run the Transformer and head over blocks of this many targets in a
  # loop, each block recomputed in the backward pass, so attention memory scales with
  # the block instead of batch x K (0: all targets at once, nothing recomputed).
  remat_block: int = 0

  def __post_init__(self):
    # Tuples even when a caller (or a ConfigDict) passes lists: the config is hashable.
    object.__setattr__(self, "conv_features", tuple(self.conv_features))
    object.__setattr__(self, "conv_strides", tuple(self.conv_strides))
    problems = self._problems()
    if problems:
      raise ValueError("invalid CNNTransformerConfig:\n  - " + "\n  - ".join(problems))

  def _problems(self) -> list[str]:
    p = []
    if self.quantization not in quant_lib.KINDS:
      p.append(f"quantization={self.quantization!r}; use one of {quant_lib.KINDS}")
    if self.dtype not in DTYPES:
      p.append(f"dtype={self.dtype!r}; use one of {DTYPES}")
    if self.chunk_size < 1 or self.context < 1:
      p.append(f"chunk_size={self.chunk_size} and context={self.context} must be >= 1")
    elif self.context % self.chunk_size:
      lo = self.context // self.chunk_size * self.chunk_size
      p.append(f"context={self.context} is not a multiple of chunk_size="
               f"{self.chunk_size}; use {lo or self.chunk_size} or "
               f"{lo + self.chunk_size}")
    if len(self.conv_features) != len(self.conv_strides) or not self.conv_features:
      p.append(f"conv_features {self.conv_features} and conv_strides "
               f"{self.conv_strides} must be non-empty and of equal length")
    elif self.chunk_size >= 1 and self.flatten_positions < 1:
      p.append(f"the conv stack (kernel {self.conv_kernel}, strides "
               f"{self.conv_strides}) needs a receptive field of at least "
               f"{self.min_receptive_field} samples but chunk_size is "
               f"{self.chunk_size}; raise chunk_size or lower the kernel/strides")
    if self.token_dim % max(self.num_heads, 1):
      p.append(f"token_dim={self.token_dim} must be divisible by "
               f"num_heads={self.num_heads}")
    for name in ("encoder_dropout", "token_dropout", "head_dropout"):
      if not 0.0 <= getattr(self, name) < 1.0:
        p.append(f"{name}={getattr(self, name)} must lie in [0, 1)")
    if not 0 <= self.local_samples <= self.chunk_size:
      p.append(f"local_samples={self.local_samples} must lie in [0, chunk_size="
               f"{self.chunk_size}] (0: the paper's model)")
    if self.remat_block < 0:
      p.append(f"remat_block={self.remat_block} must be >= 0 (0: no blocking)")
    if self.num_classes != quant_lib.NUM_CODES:
      p.append(f"num_classes must be {quant_lib.NUM_CODES} (8-bit codes)")
    return p

  # ---- Derived geometry -------------------------------------------------------------

  @property
  def num_tokens(self) -> int:
    """Tokens per context (N): context // chunk_size."""
    return self.context // self.chunk_size

  @property
  def dilations(self) -> tuple[int, ...]:
    """Cumulative stride before each conv layer: its dilation in the dense path."""
    return tuple(math.prod(self.conv_strides[:i])
                 for i in range(len(self.conv_strides)))

  @property
  def flatten_dilation(self) -> int:
    """Spacing, in samples, of the last conv layer's outputs (product of strides)."""
    return math.prod(self.conv_strides)

  @property
  def flatten_positions(self) -> int:
    """Positions left after the VALID strided conv stack on one chunk (24 in the paper)."""
    n = self.chunk_size
    for s in self.conv_strides:
      if n < self.conv_kernel:
        return 0
      n = (n - self.conv_kernel) // s + 1
    return n

  @property
  def min_receptive_field(self) -> int:
    """Receptive field of one output position of the conv stack (no flatten)."""
    return 1 + (self.conv_kernel - 1) * sum(self.dilations)

  @property
  def receptive_field(self) -> int:
    """R: samples one token reads, ending at its chunk's end (1999 in the paper)."""
    return (self.min_receptive_field
            + (self.flatten_positions - 1) * self.flatten_dilation)

  def replace(self, **changes: Any) -> "CNNTransformerConfig":
    return dataclasses.replace(self, **changes)


# The paper's model at its three context lengths, and a tiny one for tests and CPUs.
_PAPER = CNNTransformerConfig()
PRESETS: dict[str, CNNTransformerConfig] = {
    "paper_128k": _PAPER,                                # 64 tokens
    "paper_500k": _PAPER.replace(context=500_000),       # 250 tokens
    "million": _PAPER.replace(context=1_000_000),        # 500 tokens
    "tiny": CNNTransformerConfig(
        chunk_size=32, context=128, conv_features=(16, 16, 8),
        conv_strides=(2, 2, 2), conv_kernel=3, token_dim=32, num_layers=2,
        num_heads=4, mlp_dim=64, head_hidden=64),
}


def get_model_config(name: str, **overrides: Any) -> CNNTransformerConfig:
  """A preset by name (`paper_128k`, `paper_500k`, `million`, `tiny`) with overrides."""
  if name not in PRESETS:
    raise ValueError(f"unknown model preset {name!r}; use one of {sorted(PRESETS)}")
  return PRESETS[name].replace(**overrides)
