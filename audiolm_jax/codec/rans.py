"""rANS with a 31-bit state and byte output, in JAX, vectorized over streams.

Each row of a batch is one independent stream (a codec segment). Probabilities are
integer frequencies summing to 2^16 (`frequencies`); a symbol of frequency f costs
16 - log2(f) bits, so the coded size is the cross-entropy of the quantized
distribution, plus 4 bytes of final state per stream and a rounding loss that the
state's 2^7 headroom over the precision keeps to about 1e-4 bits a symbol (a state as
narrow as the precision loses about 0.005).

The state x stays in [2^23, 2^31). Encoding symbol (start, f) first emits the low
byte of x while x >= f * 2^15 (at most twice), then x <- (x // f) * 2^16 + x % f +
start. Decoding inverts it: the slot x mod 2^16 names the symbol s, x <- f_s * (x >>
16) + slot - start_s, then bytes are read while x < 2^23 (at most twice). rANS is
last in, first out: the encoder runs backwards over the stream, and the decoder
reads, at step t, the bytes the encoder emitted at step t, last emitted first; the
stored bytes are in that order. All arithmetic is uint32 and never wraps (the bounds
are in the comments).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

PRECISION = 16
TOTAL = 1 << PRECISION  # frequencies of one distribution sum to this
LOWER = 1 << 23         # the state's lower bound; also the encoder's initial state
BYTE = 0xFF
SLOT_MASK = TOTAL - 1
MAX_BYTES_PER_STEP = 2


def frequencies(logits_BxV: jax.Array) -> jax.Array:
  """int32 frequencies [B, V] >= 1 summing to 2^16 of the softmax of the logits
  (`frequencies_of_probs`'s rule on the float32 softmax)."""
  return frequencies_of_probs(jax.nn.softmax(logits_BxV.astype(jnp.float32), axis=-1))


def frequencies_of_probs(p_BxV: jax.Array, size_B: jax.Array | None = None
                         ) -> jax.Array:
  """int32 frequencies [B, V] summing to 2^16: floor(p * (2^16 - n)) + 1 for the
  first n = size_B symbols of a row (default all V), 0 for the rest, and what is
  left (>= 0: the floors never sum above 2^16 - n) to the most likely symbol.

  p must be >= 0 and sum to at most 1 over the first n (float rounding aside). One
  deterministic rule, so equal inputs give equal frequencies; the floor of 1 bounds
  any symbol's cost at 16 bits, and every frequency is at most 2^16 - n + 1 (2^16
  for n = 1: a certain symbol, which costs nothing), so f * 2^15 <= 2^31 below.
  """
  vocab = p_BxV.shape[-1]
  if size_B is None:
    size_B = jnp.full(p_BxV.shape[:1], vocab, jnp.int32)
  inside = jnp.arange(vocab)[None, :] < size_B[:, None]
  p = jnp.where(inside, p_BxV.astype(jnp.float32), 0.0)
  room = (TOTAL - size_B).astype(jnp.float32)[:, None]
  freq = jnp.where(inside, jnp.floor(p * room).astype(jnp.int32) + 1, 0)
  rest = TOTAL - jnp.sum(freq, axis=-1)
  top = jax.nn.one_hot(jnp.argmax(p, axis=-1), vocab, dtype=jnp.int32)
  return freq + top * rest[:, None]


def decode_step(freq_BxV: jax.Array, x_B: jax.Array, bytes_Bx2: jax.Array,
                cum_BxV: jax.Array | None = None):
  """One decode: (symbol [B] int32, next state [B] uint32, bytes consumed [B] int32),
  reading from bytes_Bx2, each row's next two stream bytes. cum_BxV: the inclusive
  cumulative sum of freq_BxV, where the caller has it already."""
  cum = jnp.cumsum(freq_BxV, axis=-1) if cum_BxV is None else cum_BxV  # last = 2^16
  slot = (x_B & SLOT_MASK).astype(jnp.int32)
  symbol = jnp.sum(cum <= slot[:, None], axis=-1).astype(jnp.int32)
  f, start = symbol_interval(freq_BxV, cum, symbol)
  # x >> 16 < 2^15 and slot - start < f <= 2^16: the sum is < 2^31 + 2^16.
  x = f.astype(jnp.uint32) * (x_B >> 16) + (slot - start).astype(jnp.uint32)
  read = jnp.zeros(x.shape, jnp.int32)
  for _ in range(MAX_BYTES_PER_STEP):  # x >= 1 here: two bytes lift it past 2^23
    more = x < LOWER
    byte = jnp.take_along_axis(bytes_Bx2, read[:, None], axis=1)[:, 0]
    x = jnp.where(more, (x << 8) | byte.astype(jnp.uint32), x)
    read = read + more.astype(jnp.int32)
  return symbol, x, read


def symbol_interval(freq_BxV, cum_BxV, symbol_B):
  """(freq, start) [B] of each row's symbol."""
  f = jnp.take_along_axis(freq_BxV, symbol_B[:, None], axis=-1)[:, 0]
  end = jnp.take_along_axis(cum_BxV, symbol_B[:, None], axis=-1)[:, 0]
  return f, end - f


@jax.jit
def encode_streams(start_BxT: jax.Array, freq_BxT: jax.Array, valid_BxT: jax.Array):
  """Encodes every row's symbols, given as their (start, freq) at each step.

  Returns (final state [B] uint32, bytes [B, T, 2] uint8, count [B, T] int32): the
  bytes the encoder emitted before step t's symbol, in the order the decoder reads
  them; steps where valid is False (a row's padding) emit nothing and leave the
  state alone.
  """

  def step(x, inputs):
    start, f, valid = inputs
    f = jnp.where(valid, f, 1).astype(jnp.uint32)  # padding: no division by 0
    bound = f << 15  # f <= 2^16: <= 2^31
    emitted = []
    for _ in range(MAX_BYTES_PER_STEP):  # x < 2^31: two shifts bring it below bound
      emit = valid & (x >= bound)
      emitted.append((emit, (x & BYTE).astype(jnp.uint8)))
      x = jnp.where(emit, x >> 8, x)
    # x < f * 2^15 now, so (x // f) * 2^16 + x % f + start < 2^31.
    coded = ((x // f) << 16) + x % f + start.astype(jnp.uint32)
    (first, low), (second, high) = emitted
    count = first.astype(jnp.int32) + second.astype(jnp.int32)
    # The decoder reads the last emitted byte first.
    ordered = jnp.stack([jnp.where(second, high, low), low], axis=-1)
    return jnp.where(valid, coded, x), (ordered, count)

  batch = start_BxT.shape[0]
  x0 = jnp.full((batch,), LOWER, jnp.uint32)
  x, (ordered, count) = lax.scan(
      step, x0, (start_BxT.T[::-1], freq_BxT.T[::-1], valid_BxT.T[::-1]))
  return x, jnp.swapaxes(ordered[::-1], 0, 1), count[::-1].T


def stream_bytes(ordered_BxTx2: np.ndarray, count_BxT: np.ndarray) -> list[bytes]:
  """Each row's emitted bytes in the order its decoder reads them."""
  ordered, count = np.asarray(ordered_BxTx2), np.asarray(count_BxT)
  keep = np.arange(2)[None, None, :] < count[:, :, None]
  return [ordered[b][keep[b]].tobytes() for b in range(ordered.shape[0])]
