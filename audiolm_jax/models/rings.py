"""Ring buffers for incremental sampling (shared by the families that keep them)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def ring(values_BxLxC: jax.Array, length: int, t: int) -> jax.Array:
  """A ring [B, length, C] of the last `length` values of a sequence whose newest
  value is at absolute position t: position p sits in slot p % length."""
  tail = values_BxLxC[:, -length:]
  slots = np.arange(t - length + 1, t + 1) % length
  return jnp.zeros_like(tail).at[:, slots].set(tail)
