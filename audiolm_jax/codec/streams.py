"""Codes <-> rANS streams with a model's probabilities, one segment per batch row.

Encoder and decoder run one compiled function, `coded_block`, with the same shapes,
so the frequencies they see are bit for bit the same: each step predicts the next
code from the family's incremental state (`AudioModel.next_logits`, as
`generation.teacher_forced` runs it), turns the logits into frequencies
(`rans.frequencies`), decodes a symbol from the row's rANS state, and pushes either
that symbol (a row being decoded) or the given code (a row being encoded, or stored
verbatim). Encoding collects the given codes' (start, freq) and then runs
`rans.encode_streams` backwards over them; decoding reads each row's words in jitted
blocks of steps, with no host round trip per sample.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from audiolm_jax.codec import rans
from audiolm_jax.generation import teacher_forced
from audiolm_jax.models.interface import AudioModel

MAX_BLOCK = 1024  # steps per jitted block (fewer for short segments)


def block_size(longest: int) -> int:
  """Steps per block for segments of at most `longest` codes: a power of two up to
  MAX_BLOCK, so a short file does not run a long padded block (and both sides of the
  codec derive the same size from the segment layout)."""
  return min(MAX_BLOCK, 1 << max(0, int(longest - 1).bit_length()))


@functools.partial(jax.jit, static_argnames="model")
def coded_block(model: AudioModel, params, state, x_B, bytes_Bx2N, given_BxN,
                forced_B):
  """N coding steps of B streams. bytes_Bx2N: the next 2N bytes of each row's stream
  (a decoder reads at most two a step); given_BxN: the codes pushed where forced_B.

  Returns (state, x [B], per step: code [B, N], start [B, N], freq [B, N], state x
  after the step [B, N], bytes read so far in this block [B, N]).
  """

  def step(carry, given_B):
    state, x, read_so_far = carry
    freq = rans.frequencies(model.next_logits(params, state))
    at = jnp.minimum(read_so_far[:, None] + jnp.arange(2)[None, :],
                     bytes_Bx2N.shape[1] - 1)
    decoded, x_next, read = rans.decode_step(
        freq, x, jnp.take_along_axis(bytes_Bx2N, at, axis=1))
    code = jnp.where(forced_B, given_B, decoded)
    f, start = rans.symbol_interval(freq, jnp.cumsum(freq, axis=-1), code)
    x = jnp.where(forced_B, x, x_next)
    read_so_far = read_so_far + jnp.where(forced_B, 0, read)
    state = model.push(params, state, code)
    return (state, x, read_so_far), (code, start, f, x, read_so_far)

  (state, x, _), (codes, starts, freqs, xs, reads) = lax.scan(
      step, (state, x_B, jnp.zeros(x_B.shape, jnp.int32)), given_BxN.T)
  return state, x, codes.T, starts.T, freqs.T, xs.T, reads.T


@dataclasses.dataclass(frozen=True)
class Layout:
  """How a file's T codes split into segments, coded side by side."""

  lengths: tuple[int, ...]  # codes per segment, in file order (sum = T)

  @classmethod
  def split(cls, num_codes: int, segments: int) -> "Layout":
    """Nearly equal segments (the first T mod N one longer); at most one segment
    per code, at least one (empty) segment for an empty file."""
    if segments < 1:
      raise ValueError(f"segments={segments} must be >= 1")
    n = max(1, min(segments, num_codes))
    base, extra = divmod(num_codes, n)
    return cls(tuple(base + (i < extra) for i in range(n)))

  @property
  def block(self) -> int:
    return block_size(max(self.lengths))

  def rows(self, codes: np.ndarray) -> np.ndarray:
    """codes [T] -> [N, steps] (segments as rows, padded to whole blocks)."""
    steps = -(-max(self.lengths) // self.block) * self.block
    out = np.zeros((len(self.lengths), steps), np.int32)
    begin = 0
    for i, n in enumerate(self.lengths):
      out[i, :n] = codes[begin:begin + n]
      begin += n
    return out


def _blocks(model, params, layout: Layout, rows, x, bytes_for, forced):
  """Runs coded_block over the rows' blocks; yields (first step, its outputs).

  bytes_for(bytes read so far [B]) -> the next bytes [B, 2 block] of each stream.
  """
  batch, steps = rows.shape
  state = teacher_forced.start_state(model, params, jnp.zeros((batch, 0), jnp.int32))
  reads = np.zeros(batch, np.int64)
  for begin in range(0, steps, layout.block):
    state, x, codes, starts, freqs, xs, read = coded_block(
        model, params, state, x, jnp.asarray(bytes_for(reads)),
        jnp.asarray(rows[:, begin:begin + layout.block]), jnp.asarray(forced))
    out = tuple(map(np.asarray, (codes, starts, freqs, xs, read)))
    reads = reads + out[4][:, -1]
    yield begin, out


def interval_of_codes(model, params, layout: Layout, codes: np.ndarray):
  """(start, freq) [N, steps] of every code under the model, segment by segment."""
  rows = layout.rows(codes)
  batch = rows.shape[0]
  starts, freqs = np.zeros(rows.shape, np.int32), np.zeros(rows.shape, np.int32)
  zeros = np.zeros((batch, 2 * layout.block), np.uint8)
  x = jnp.full((batch,), rans.LOWER, jnp.uint32)
  for begin, (_, start, freq, _, _) in _blocks(
      model, params, layout, rows, x, lambda _: zeros, np.ones(batch, bool)):
    starts[:, begin:begin + layout.block] = start
    freqs[:, begin:begin + layout.block] = freq
  return starts, freqs


def encode(model, params, layout: Layout, codes: np.ndarray):
  """(final states [N] uint32, stream bytes per segment, the quantized model's
  information content of each segment in bits)."""
  starts, freqs = interval_of_codes(model, params, layout, codes)
  valid = np.arange(starts.shape[1])[None, :] < np.asarray(layout.lengths)[:, None]
  x, ordered, count = rans.encode_streams(jnp.asarray(starts), jnp.asarray(freqs),
                                          jnp.asarray(valid))
  bits = np.where(valid, rans.PRECISION - np.log2(np.maximum(freqs, 1)), 0.0).sum(1)
  return np.asarray(x), rans.stream_bytes(ordered, count), bits


class DecodeError(ValueError):
  """The decoded streams did not end as the encoder began them."""


def decode(model, params, layout: Layout, states, streams: list[bytes | None],
           verbatim: list[np.ndarray | None]) -> np.ndarray:
  """Codes [T]: segment i decoded from (states[i], streams[i]), or taken as
  verbatim[i] where that is not None (and pushed through the model alike).
  Raises DecodeError unless every stream ends in the encoder's initial state with
  all its bytes read."""
  batch = len(layout.lengths)
  forced = np.array([v is not None for v in verbatim])
  rows = layout.rows(np.concatenate([v if v is not None else np.zeros(n, np.uint8)
                                     for v, n in zip(verbatim, layout.lengths)]))
  block = layout.block
  streams = [np.frombuffer(s or b"", np.uint8) for s in streams]

  def bytes_for(reads):
    out = np.zeros((batch, 2 * block), np.uint8)
    for b, stream in enumerate(streams):
      chunk = stream[int(reads[b]):int(reads[b]) + 2 * block]
      out[b, :len(chunk)] = chunk
    return out

  x = jnp.asarray(np.asarray(states, np.uint32))
  decoded = np.zeros(rows.shape, np.int32)
  end_x = np.full(batch, rans.LOWER, np.int64)
  end_reads = np.zeros(batch, np.int64)
  reads_before = np.zeros(batch, np.int64)
  lengths = np.asarray(layout.lengths)
  for begin, (codes, _, _, xs, read) in _blocks(model, params, layout, rows, x,
                                                bytes_for, forced):
    decoded[:, begin:begin + block] = codes
    for b in range(batch):
      last = lengths[b] - 1 - begin  # this row's last step, if in this block
      if 0 <= last < block:
        end_x[b], end_reads[b] = xs[b, last], reads_before[b] + read[b, last]
    reads_before = reads_before + read[:, -1]
  for b in range(batch):
    if forced[b] or lengths[b] == 0:
      continue
    if end_x[b] != rans.LOWER or end_reads[b] != len(streams[b]):
      raise DecodeError(
          f"segment {b} did not decode cleanly (final state {end_x[b]:#x}, "
          f"{end_reads[b]} of {len(streams[b])} bytes read)")
  return np.concatenate([decoded[b, :n] for b, n in enumerate(lengths)]).astype(
      np.uint8)
