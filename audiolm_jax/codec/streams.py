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

from typing import NamedTuple

from audiolm_jax.codec import bins, linear, mixing, rans
from audiolm_jax.codec.mixing import Mixing
from audiolm_jax.data import quantization, recipes
from audiolm_jax.generation import teacher_forced
from audiolm_jax.models.interface import AudioModel

MAX_BLOCK = 1024  # steps per jitted block (fewer for short segments)


def block_size(longest: int) -> int:
  """Steps per block for segments of at most `longest` codes: a power of two up to
  MAX_BLOCK, so a short file does not run a long padded block (and both sides of the
  codec derive the same size from the segment layout)."""
  return min(MAX_BLOCK, 1 << max(0, int(longest - 1).bit_length()))


@dataclasses.dataclass(frozen=True)
class Coding:
  """How a file's samples are coded (static: one compiled block per coding)."""

  mode: str             # "pcm16": int16 values, exactly; "codes": 8-bit codes
  quantization: str     # the run's quantizer ("mu_law" or "linear")
  mixing: Mixing = Mixing()

  def __post_init__(self):
    bins.check_mode(self.mode)
    # The linear predictor's setup for the mode, resolved here so that the header
    # records what ran.
    linear_setup = self.mixing.linear.for_mode(self.mode)
    if linear_setup != self.mixing.linear:
      object.__setattr__(self, "mixing", dataclasses.replace(self.mixing,
                                                             linear=linear_setup))

  @property
  def symbols_per_step(self) -> int:
    return 2 if self.mode == "pcm16" else 1  # (code, offset in its bin) or code

  @property
  def uses_linear(self) -> bool:  # 16-bit mode codes the offset by it
    return self.mixing.uses_linear or self.mode == "pcm16"

  @property
  def silence(self) -> float:
    table = bins.tables(self.quantization)
    return 0.0 if self.mode == "pcm16" else float(
        table.amplitude[quantization.silence_code(self.quantization)])


class BlockOut(NamedTuple):
  values: jax.Array   # [B, N] the samples: codes, or int16 values (int32)
  starts: jax.Array   # [B, N, S] each symbol's (start, freq): S = symbols a step
  freqs: jax.Array
  xs: jax.Array       # [B, N] the rANS state after the step
  reads: jax.Array    # [B, N] bytes read in this block up to the step's end


def start_state(model: AudioModel, coding: Coding, params, batch: int):
  """(model, linear, mixer) states at a stream's start (None where unused)."""
  return (teacher_forced.start_state(model, params, jnp.zeros((batch, 0), jnp.int32))
          if coding.mixing.uses_model else None,
          linear.start(coding.mixing.linear, batch, coding.silence)
          if coding.uses_linear else None,
          mixing.start(coding.mixing, batch)
          if coding.mixing.predictor == "mix" else None)


@functools.partial(jax.jit, static_argnames=("model", "coding"))
def coded_block(model: AudioModel, coding: Coding, params, state, x_B, bytes_BxK,
                given_BxN, forced_B) -> tuple[tuple, jax.Array, BlockOut]:
  """N coding steps of B streams. bytes_BxK: the next bytes of each row's stream
  (a decoder reads at most two a symbol: K = 2 N symbols_per_step); given_BxN: the
  samples pushed where forced_B (codes, or int16 values in "pcm16" mode).

  Each step predicts the code (the model, linear prediction or their mix, as
  `coding.mixing.predictor` says), decodes or forces it, then in "pcm16" mode the
  offset inside the code's bin (linear prediction's logistic restricted to the bin),
  and pushes the sample into every predictor. Returns (state, x [B], BlockOut).
  """
  mix_setup, lin_setup = coding.mixing, coding.mixing.linear
  table = bins.tables(coding.quantization)
  pcm = coding.mode == "pcm16"
  edges = jnp.asarray(table.pcm_edges if pcm else table.code_edges)
  amplitude = jnp.asarray(table.amplitude)
  code_of_value = jnp.asarray(table.code_of_value)
  lo_of, width_of = jnp.asarray(table.lo), jnp.asarray(table.width)
  offsets = jnp.arange(table.max_width)

  def coded(freq, x, read_so_far, forced_symbol):
    """Decodes a symbol from x (unless forced); its interval; the state after."""
    at = jnp.minimum(read_so_far[:, None] + jnp.arange(2)[None, :],
                     bytes_BxK.shape[1] - 1)
    cum = jnp.cumsum(freq, axis=-1)
    decoded, x_next, read = rans.decode_step(
        freq, x, jnp.take_along_axis(bytes_BxK, at, axis=1), cum)
    symbol = jnp.where(forced_B, forced_symbol, decoded)
    f, start = rans.symbol_interval(freq, cum, symbol)
    return (symbol, f, start, jnp.where(forced_B, x, x_next),
            read_so_far + jnp.where(forced_B, 0, read))

  def step(carry, given_B):
    (model_state, lin_state, mix_state), x, read_so_far = carry
    if mix_setup.uses_model:
      logits = model.next_logits(params, model_state)
    if coding.uses_linear:
      lin_state, centre = linear.prediction(lin_setup, lin_state)
      lin_scale = linear.scale(lin_setup, lin_state)
      lin_p = linear.bin_probs(lin_setup, centre, lin_scale, edges)
    if mix_setup.predictor == "model":
      freq = rans.frequencies(logits)
    elif mix_setup.predictor == "linear":
      freq = rans.frequencies_of_probs(lin_p)
    else:
      p, saved = mixing.mix(mix_state, jax.nn.log_softmax(
          logits.astype(jnp.float32), axis=-1), lin_p)
      freq = rans.frequencies_of_probs(p)
    given_code = code_of_value[given_B - bins.PCM_MIN] if pcm else given_B
    code, f, start, x, read_so_far = coded(freq, x, read_so_far, given_code)
    starts, freqs = [start], [f]
    if pcm:  # the offset inside the code's bin
      lo, width = lo_of[code], width_of[code]
      value = (lo[:, None] + offsets[None, :]).astype(jnp.float32)
      mass = linear.interval_mass((value - 0.5) / recipes.PCM_SCALE,
                                  (value + 0.5) / recipes.PCM_SCALE,
                                  centre[:, None], lin_scale[:, None])
      inside = offsets[None, :] < width[:, None]
      mass = jnp.where(inside, jnp.maximum(mass, 0.0), 0.0)
      total = jnp.sum(mass, axis=1, keepdims=True)
      uniform = 1.0 / width[:, None].astype(jnp.float32)
      fine = jnp.where(total > 0, (1.0 - lin_setup.floor) * mass / jnp.where(
          total > 0, total, 1.0) + lin_setup.floor * uniform, uniform)
      offset, f, start, x, read_so_far = coded(
          rans.frequencies_of_probs(fine, width), x, read_so_far, given_B - lo)
      starts.append(start)
      freqs.append(f)
      sample = lo + offset
      sample_amplitude = sample.astype(jnp.float32) / recipes.PCM_SCALE
    else:
      sample, sample_amplitude = code, amplitude[code]
    if mix_setup.uses_model:
      model_state = model.push(params, model_state, code)
    if coding.uses_linear:
      lin_state = linear.push(lin_setup, lin_state, sample_amplitude)
    if mix_setup.predictor == "mix":
      mix_state = mixing.update(mix_setup, mix_state, saved, code)
    return (((model_state, lin_state, mix_state), x, read_so_far),
            (sample, jnp.stack(starts, -1), jnp.stack(freqs, -1), x, read_so_far))

  (state, x, _), outs = lax.scan(
      step, (state, x_B, jnp.zeros(x_B.shape, jnp.int32)), given_BxN.T)
  values, starts, freqs, xs, reads = outs
  return state, x, BlockOut(values.T, jnp.swapaxes(starts, 0, 1),
                            jnp.swapaxes(freqs, 0, 1), xs.T, reads.T)


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

  @property
  def steps(self) -> int:
    """Steps every row runs: the longest segment, padded to whole blocks."""
    return -(-max(self.lengths) // self.block) * self.block

  def rows(self, samples: np.ndarray) -> np.ndarray:
    """samples [sum(lengths)] (segments in order) -> [N, steps] int32 (padded)."""
    out = np.zeros((len(self.lengths), self.steps), np.int32)
    begin = 0
    for i, n in enumerate(self.lengths):
      out[i, :n] = samples[begin:begin + n]
      begin += n
    return out


def _blocks(model, coding: Coding, params, layout: Layout, x, bytes_for, given_for,
            forced):
  """Runs coded_block over the rows' blocks; yields (first step, BlockOut as NumPy).

  bytes_for(bytes read so far [B]) -> the next bytes [B, K] of each stream;
  given_for(first step) -> the samples [B, block] forced rows push.
  """
  batch = len(layout.lengths)
  state = start_state(model, coding, params, batch)
  reads = np.zeros(batch, np.int64)
  for begin in range(0, layout.steps, layout.block):
    state, x, out = coded_block(model, coding, params, state, x,
                                jnp.asarray(bytes_for(reads)),
                                jnp.asarray(given_for(begin)), jnp.asarray(forced))
    out = BlockOut(*map(np.asarray, out))
    reads = reads + out.reads[:, -1]
    yield begin, out


def intervals(model, coding: Coding, params, layout: Layout, samples: np.ndarray):
  """(start, freq) [N, steps, S] of every symbol of the samples, segment by segment."""
  rows = layout.rows(samples)
  batch, block = rows.shape[0], layout.block
  shape = rows.shape + (coding.symbols_per_step,)
  starts, freqs = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
  zeros = np.zeros((batch, 2 * coding.symbols_per_step * block), np.uint8)
  x = jnp.full((batch,), rans.LOWER, jnp.uint32)
  for begin, out in _blocks(model, coding, params, layout, x, lambda _: zeros,
                            lambda b: rows[:, b:b + block], np.ones(batch, bool)):
    starts[:, begin:begin + block] = out.starts
    freqs[:, begin:begin + block] = out.freqs
  return starts, freqs


def encode(model, coding: Coding, params, layout: Layout, samples: np.ndarray):
  """(final states [N] uint32, stream bytes per segment, bits [N, S]: the quantized
  predictors' information content of each segment's symbols, by kind of symbol)."""
  starts, freqs = intervals(model, coding, params, layout, samples)
  batch, steps, per_step = starts.shape
  valid = np.arange(steps)[None, :] < np.asarray(layout.lengths)[:, None]
  valid = np.repeat(valid[:, :, None], per_step, axis=2)
  x, ordered, count = rans.encode_streams(
      jnp.asarray(starts.reshape(batch, -1)), jnp.asarray(freqs.reshape(batch, -1)),
      jnp.asarray(valid.reshape(batch, -1)))
  bits = np.where(valid, rans.PRECISION - np.log2(np.maximum(freqs, 1)), 0.0).sum(1)
  return np.asarray(x), rans.stream_bytes(ordered, count), bits


class DecodeError(ValueError):
  """The decoded streams did not end as the encoder began them."""


def decode(model, coding: Coding, params, layout: Layout, states,
           streams: list[bytes | None], verbatim: list[np.ndarray | None],
           sink) -> None:
  """Decodes segment i from (states[i], streams[i]), or takes verbatim[i] where that
  is not None (pushed through the predictors alike), block by block: each block's
  samples go to sink(segment, first position, samples [n]) as they are decoded, so
  memory does not grow with the file. Raises DecodeError as soon as a stream needs
  bytes past its end, and at the end unless every stream ends in the encoder's
  initial state with all its bytes read (the sink has then seen wrong samples:
  discard them)."""
  batch, block = len(layout.lengths), layout.block
  forced = np.array([v is not None for v in verbatim])
  lengths = np.asarray(layout.lengths)
  width = 2 * coding.symbols_per_step * block
  streams = [np.frombuffer(s or b"", np.uint8) for s in streams]

  def bytes_for(reads):
    out = np.zeros((batch, width), np.uint8)
    for b, stream in enumerate(streams):
      chunk = stream[int(reads[b]):int(reads[b]) + width]
      out[b, :len(chunk)] = chunk
    return out

  def given_for(begin):
    out = np.zeros((batch, block), np.int32)
    for b, v in enumerate(verbatim):
      if v is not None:
        chunk = v[begin:begin + block]
        out[b, :len(chunk)] = chunk
    return out

  x = jnp.asarray(np.asarray(states, np.uint32))
  end_x = np.full(batch, rans.LOWER, np.int64)
  end_reads = np.zeros(batch, np.int64)
  reads_before = np.zeros(batch, np.int64)
  sizes = np.array([len(s) for s in streams])
  for begin, out in _blocks(model, coding, params, layout, x, bytes_for, given_for,
                            forced):
    for b in range(batch):
      n = min(block, lengths[b] - begin)
      if n <= 0:
        continue
      sink(b, begin, out.values[b, :n])
      if not forced[b] and reads_before[b] + out.reads[b, n - 1] > sizes[b]:
        raise DecodeError(f"segment {b} needs more bytes than it holds "
                          f"({sizes[b]}) by position {begin + n:,}")
      if begin + n == lengths[b]:  # the segment's last step
        end_x[b] = out.xs[b, n - 1]
        end_reads[b] = reads_before[b] + out.reads[b, n - 1]
    reads_before = reads_before + out.reads[:, -1]
  for b in range(batch):
    if forced[b] or lengths[b] == 0:
      continue
    if end_x[b] != rans.LOWER or end_reads[b] != sizes[b]:
      raise DecodeError(
          f"segment {b} did not decode cleanly (final state {end_x[b]:#x}, "
          f"{end_reads[b]} of {sizes[b]} bytes read)")
