"""`compress_pcm` / `compress` (bytes) and `decompress` / `decode_into` (samples).

Lossless: decoding returns exactly what was encoded, or raises. Two modes:
* "pcm16": int16 PCM [T, C] at 16 kHz, every channel coded on its own: each sample's
  8-bit code (the run's recipe), then its place inside the code's bin;
* "codes": 8-bit codes [T], the code alone.
Each code costs what the predictor's (quantized) probability of it says, -log2 p
bits, through rANS (`rans.py`, `streams.py`); the predictor is the run's model, linear
prediction, or their online mix (`mixing.py`, the default). A segment that would
code larger than its raw samples is stored verbatim instead, so no segment costs more
than raw PCM (or raw codes). The file format is `container.py`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct

import numpy as np

from audiolm_jax.codec import bins, container, streams
from audiolm_jax.codec.container import CodecFileError, Header, Segment
from audiolm_jax.codec.mixing import Mixing
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.data import recipes


@dataclasses.dataclass
class CodingStats:
  """Where a file's bits went: predicted information content of its rANS
  segments' codes and offsets (bits), and its bytes (header and padding included)."""

  code_bits: float = 0.0
  offset_bits: float = 0.0
  file_bytes: int = 0
  verbatim_segments: int = 0


def _check_codes(codes) -> np.ndarray:
  codes = np.asarray(codes)
  if codes.ndim != 1:
    raise ValueError(f"codes must be one stream [T]; got shape {codes.shape}")
  if codes.size and (codes.min() < 0 or codes.max() > 255):
    raise ValueError(f"codes must lie in [0, 256); got [{codes.min()}, {codes.max()}]")
  return codes.astype(np.uint8)


def _check_pcm(pcm) -> np.ndarray:
  pcm = np.asarray(pcm)
  if pcm.dtype != np.int16:
    raise ValueError(f"16-bit lossless mode codes int16 PCM; got {pcm.dtype} (read "
                     f"the file as int16, or code its 8-bit codes: mode 'codes')")
  if pcm.ndim == 1:
    pcm = pcm[:, None]
  if pcm.ndim != 2 or not 1 <= pcm.shape[1] <= container.MAX_CHANNELS:
    raise ValueError(f"PCM must be [T] or [T, channels] with 1 to "
                     f"{container.MAX_CHANNELS} channels; got shape {pcm.shape}")
  return pcm


def check_recipe_for_pcm16(recipe: str) -> None:
  """ValueError unless the recipe's codes are a fixed function of each sample."""
  if not recipes.gain_changes_codes(recipe):
    raise ValueError(f"the run's recipe {recipe!r} scales every chunk to its own "
                     f"range, so a sample's code is not a fixed bin of its 16-bit "
                     f"value and 16-bit lossless mode cannot code it; use mode "
                     f"'codes' (8-bit codes) with this run, or a mu_law or linear run")


def _encode(model, params, coding: streams.Coding, samples_TxC: np.ndarray,
            segments: int, recipe: str) -> tuple[bytes, CodingStats]:
  length, channels = samples_TxC.shape
  per_channel = streams.Layout.split(length, segments)
  layout = streams.Layout(per_channel.lengths * channels if length else ())
  flat = np.ascontiguousarray(samples_TxC.T).reshape(-1)  # channel by channel
  out, digests, stats = [], [], CodingStats()
  if length:
    states, coded, bits = streams.encode(model, coding, params, layout, flat)
    begin = 0
    for n, state, stream, segment_bits in zip(layout.lengths, states, coded, bits):
      raw = container.sample_bytes(flat[begin:begin + n], coding.mode)
      digests.append(hashlib.sha256(raw).digest())
      payload = struct.pack("<I", int(state)) + stream
      if len(payload) >= len(raw):  # the escape: never more than raw samples
        out.append(Segment(n, container.VERBATIM, raw))
        stats.verbatim_segments += 1
      else:
        out.append(Segment(n, container.RANS, payload))
        stats.code_bits += float(segment_bits[0])
        stats.offset_bits += float(segment_bits[1:].sum())
      begin += n
  header = Header(
      num_samples=length, sample_rate=SAMPLE_RATE, recipe=recipe,
      quantization=coding.quantization,
      block=layout.block if length else 1, family=model.name,
      fingerprint=container.model_fingerprint(model, params),
      samples_sha256=container.samples_digest(digests),
      encoder=container.this_platform(), segments=[], mode=coding.mode,
      channels=channels, mixing=coding.mixing.to_json())
  data = container.pack(header, out)
  stats.file_bytes = len(data)
  return data, stats


def compress_pcm(model, params, pcm, *, recipe: str, segments: int = 1,
                 mixing: Mixing = Mixing(), with_stats: bool = False):
  """The codec file of int16 PCM [T] or [T, C] at 16 kHz, exactly: each channel in
  `segments` independent streams (each from silence), rANS-coded or verbatim,
  whichever is smaller. `recipe` is the run's (it makes the 8-bit codes the model
  predicts; `sashimi` is refused). Returns bytes, or (bytes, CodingStats)."""
  check_recipe_for_pcm16(recipe)
  coding = streams.Coding("pcm16", recipes.quantization_of(recipe), mixing)
  if coding.quantization != model.quantization:
    raise ValueError(f"recipe {recipe!r} makes {coding.quantization} codes; the "
                     f"model reads {model.quantization}")
  data, stats = _encode(model, params, coding, _check_pcm(pcm).astype(np.int32),
                        segments, recipe)
  return (data, stats) if with_stats else data


def compress(model, params, codes, *, segments: int = 1, recipe: str | None = None,
             mixing: Mixing = Mixing(), with_stats: bool = False):
  """The codec file of 8-bit codes [T] (uint8) under `model` (and linear prediction,
  as `mixing` says): `segments` independent streams side by side, rANS-coded or
  verbatim, whichever is smaller. `recipe` is recorded in the header (default: the
  model's code kind). Returns bytes, or (bytes, CodingStats)."""
  codes = _check_codes(codes)
  coding = streams.Coding("codes", model.quantization, mixing)
  data, stats = _encode(model, params, coding, codes.astype(np.int32)[:, None],
                        segments, recipe or model.quantization)
  return (data, stats) if with_stats else data


def read_header(data: bytes, name: str = "the input") -> Header:
  """The header of a codec file (checked whole: magic, size, CRC, claims)."""
  return container.unpack(data, name)[0]


def _mixing_of(header: Header) -> Mixing:
  return Mixing(predictor="model") if header.mixing is None else Mixing.from_json(
      header.mixing)


def decode_into(model, params, data: bytes, allocate, name: str = "the input"
                ) -> Header:
  """Decodes a codec file block by block into `allocate(header)`, an array-like
  [T, C] of the file's samples (uint8 codes, or int16 PCM) that this writes as it
  decodes (a NumPy array, or a memory-mapped file: memory does not grow with the
  file). Returns the header.

  Raises CodecFileError naming the cause: not a codec file, truncated, corrupted or
  crafted, encoded with another model, or decoded samples that fail their checksum
  (this machine computes the probabilities differently from the encoder's). The
  output then holds garbage: discard it.
  """
  header, segments = container.unpack(data, name)
  mixing = _mixing_of(header)
  if mixing.uses_model:
    fingerprint = container.model_fingerprint(model, params)
    if header.fingerprint != fingerprint or header.family != model.name:
      raise CodecFileError(
          f"{name} was encoded with another model ({header.family}, fingerprint "
          f"{header.fingerprint}); this run's model is {model.name}, fingerprint "
          f"{fingerprint}. Decode it with the run (and --step) that encoded it.")
  if header.quantization != model.quantization:
    raise CodecFileError(f"{name} holds {header.quantization} codes; this run's "
                         f"model reads {model.quantization}")
  out = allocate(header)
  if header.num_samples == 0:
    return header
  layout = streams.Layout(tuple(s.length for s in segments))
  if layout.block != header.block:
    raise CodecFileError(f"{name} is corrupted: its segment layout does not add up")
  coding = streams.Coding(header.mode, header.quantization, mixing)
  states, coded, verbatim = [], [], []
  dtype = "<i2" if header.mode == "pcm16" else np.uint8
  for s in segments:
    if s.mode == container.VERBATIM:
      states.append(0)
      coded.append(None)
      verbatim.append(np.frombuffer(s.payload, dtype).astype(np.int32))
    else:
      states.append(struct.unpack_from("<I", s.payload)[0])
      coded.append(s.payload[4:])
      verbatim.append(None)
  per_channel = header.segments_per_channel
  firsts = [sum(layout.lengths[c * per_channel:i])
            for i in range(len(segments)) for c in [i // per_channel]]
  hashers = [hashlib.sha256() for _ in segments]

  def sink(segment, begin, values):
    c = segment // per_channel
    out[firsts[segment] + begin:firsts[segment] + begin + len(values), c] = values
    hashers[segment].update(container.sample_bytes(values, header.mode))

  here = container.this_platform()
  mismatch = (f"this machine computes the probabilities differently from the one "
              f"that encoded it (encoded on "
              f"{container.describe_platform(header.encoder)}; this is "
              f"{container.describe_platform(here)}). Decode it where it was encoded.")
  try:
    streams.decode(model, coding, params, layout, states, coded, verbatim, sink)
  except streams.DecodeError as e:
    raise CodecFileError(f"{name} did not decode: {e}; it is corrupted, or "
                         f"{mismatch}") from None
  if header.version == 1:
    digest = container.codes_sha256(np.asarray(out[:, 0]))
  else:
    digest = container.samples_digest([h.digest() for h in hashers])
  if digest != header.samples_sha256:
    raise CodecFileError(f"{name}: the decoded samples fail their checksum; "
                         f"{mismatch}")
  return header


def decompress(model, params, data: bytes, name: str = "the input"
               ) -> tuple[np.ndarray, Header]:
  """(samples, header) of a codec file: codes [T] uint8 ("codes" mode) or PCM
  [T, C] int16 ("pcm16" mode), in memory. `decode_into` streams to a file."""
  def allocate(header):
    shape = (header.num_samples, header.channels)
    return np.zeros(shape, np.int16 if header.mode == "pcm16" else np.uint8)
  held = {}
  header = decode_into(model, params, data,
                       lambda h: held.setdefault("out", allocate(h)), name)
  out = held["out"]
  return (out if header.mode == "pcm16" else out[:, 0]), header
