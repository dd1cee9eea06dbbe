"""`compress(model, params, codes) -> bytes` and `decompress(model, params, data)`.

Lossless for the codes: `decompress(compress(c))` returns c exactly, or raises. Any
trained run of any family is a compressor of 8-bit audio: each code costs what the
model's (quantized) probability of it says, -log2 p bits, through rANS (`rans.py`,
`streams.py`). A segment that would code larger than its raw bytes is stored
verbatim instead, so no segment ever costs more than 8 bits a sample. The file
format is `container.py`.
"""

from __future__ import annotations

import struct

import numpy as np

from audiolm_jax.codec import container, streams
from audiolm_jax.codec.container import CodecFileError, Header, Segment
from audiolm_jax.data.audio_io import SAMPLE_RATE


def _check_codes(codes) -> np.ndarray:
  codes = np.asarray(codes)
  if codes.ndim != 1:
    raise ValueError(f"codes must be one stream [T]; got shape {codes.shape}")
  if codes.size and (codes.min() < 0 or codes.max() > 255):
    raise ValueError(f"codes must lie in [0, 256); got [{codes.min()}, {codes.max()}]")
  return codes.astype(np.uint8)


def compress(model, params, codes, *, segments: int = 1,
             recipe: str | None = None) -> bytes:
  """The codec file of codes [T] (uint8) under `model`: `segments` independent
  streams side by side (each from silence), rANS-coded or verbatim, whichever is
  smaller. `recipe` is recorded in the header (default: the model's code kind)."""
  codes = _check_codes(codes)
  layout = streams.Layout.split(len(codes), segments)
  out = []
  if len(codes):
    states, coded, _ = streams.encode(model, params, layout, codes)
    begin = 0
    for length, state, stream in zip(layout.lengths, states, coded):
      payload = struct.pack("<I", int(state)) + stream
      if len(payload) >= length:  # the escape: never more than raw bytes
        out.append(Segment(length, container.VERBATIM,
                           codes[begin:begin + length].tobytes()))
      else:
        out.append(Segment(length, container.RANS, payload))
      begin += length
  header = Header(
      num_samples=len(codes), sample_rate=SAMPLE_RATE,
      recipe=recipe or model.quantization, quantization=model.quantization,
      block=layout.block, family=model.name,
      fingerprint=container.model_fingerprint(model, params),
      codes_sha256=container.codes_sha256(codes), encoder=container.this_platform(),
      segments=[])
  return container.pack(header, out)


def read_header(data: bytes, name: str = "the input") -> Header:
  """The header of a codec file (checked whole: magic, size, CRC)."""
  return container.unpack(data, name)[0]


def decompress(model, params, data: bytes, name: str = "the input"
               ) -> tuple[np.ndarray, Header]:
  """(codes [T] uint8, header) of a codec file, decoded with `model`.

  Raises CodecFileError naming the cause: not a codec file, truncated or corrupted,
  encoded with another model, or decoded codes that fail their checksum (this
  machine computes the model's probabilities differently from the encoder's).
  """
  header, segments = container.unpack(data, name)
  fingerprint = container.model_fingerprint(model, params)
  if header.fingerprint != fingerprint or header.family != model.name:
    raise CodecFileError(
        f"{name} was encoded with another model ({header.family}, fingerprint "
        f"{header.fingerprint}); this run's model is {model.name}, fingerprint "
        f"{fingerprint}. Decode it with the run (and --step) that encoded it.")
  if header.num_samples == 0:
    return np.zeros(0, np.uint8), header
  layout = streams.Layout(tuple(s.length for s in segments))
  if sum(layout.lengths) != header.num_samples or layout.block != header.block:
    raise CodecFileError(f"{name} is corrupted: its segment layout does not add up")
  states, coded, verbatim = [], [], []
  for s in segments:
    if s.mode == container.VERBATIM:
      states.append(0)
      coded.append(None)
      verbatim.append(np.frombuffer(s.payload, np.uint8))
    elif s.mode == container.RANS:
      states.append(struct.unpack_from("<I", s.payload)[0])
      coded.append(s.payload[4:])
      verbatim.append(None)
    else:
      raise CodecFileError(f"{name} has a segment of unknown mode {s.mode!r}")
  here = container.this_platform()
  mismatch = (f"this machine computes the model's probabilities differently from "
              f"the one that encoded it (encoded on "
              f"{container.describe_platform(header.encoder)}; this is "
              f"{container.describe_platform(here)}). Decode it where it was encoded.")
  try:
    codes = streams.decode(model, params, layout, states, coded, verbatim)
  except streams.DecodeError as e:
    raise CodecFileError(f"{name} did not decode: {e}; {mismatch}") from None
  if container.codes_sha256(codes) != header.codes_sha256:
    raise CodecFileError(f"{name}: the decoded codes fail their checksum; {mismatch}")
  return codes, header
