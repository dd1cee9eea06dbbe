"""The codec's file format: a self-describing header, the segments, a checksum.

    magic "ALMC" | format version (1 byte) | header length (4 bytes, little-endian)
    | header (zlib-compressed UTF-8 JSON) | segment payloads, in file order
    | CRC-32 of all before

The header holds the mode (16-bit PCM or 8-bit codes), the sample rate, the
number of samples per channel and of channels, the recipe that made the codes, what
predicted them (the mixing setup), the segment layout (channel by channel: each
segment's length, whether it is rANS-coded or stored verbatim, and its payload
size), the model's family and fingerprint, the platform and JAX version that encoded
the file, and a SHA-256 of the samples (of each segment's, then of those digests). A
rANS payload is the final state (4 bytes, little-endian) then the stream's bytes; a
verbatim one is the samples themselves (uint8 codes, or int16 little-endian). The
CRC catches a truncated or altered file before any decoding; `check_claims` refuses
a header that claims more samples than its payload can hold (so a crafted file
cannot make the decoder allocate or run without bound); the samples' hash catches a
decoder whose arithmetic differs.

Version 1 (8-bit codes, the model alone, one hash of all the codes) still decodes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import struct
import tempfile
import zlib

import jax
import numpy as np

MAGIC = b"ALMC"
VERSION = 2
READS = (1, 2)  # the versions this code decodes
MAX_CHANNELS = 256
EXTENSION = ".alc"
RANS, VERBATIM = "rans", "verbatim"
_PREFIX = struct.Struct("<4sBI")  # magic, version, header length


class CodecFileError(ValueError):
  """A codec file that cannot be decoded as it is (names the file and the cause)."""


@dataclasses.dataclass
class Segment:
  length: int    # samples in the segment
  mode: str      # RANS or VERBATIM
  payload: bytes


@dataclasses.dataclass
class Header:
  num_samples: int           # per channel
  sample_rate: int
  recipe: str
  quantization: str
  block: int                 # steps per jitted block, as the encoder ran them
  family: str
  fingerprint: str           # model_fingerprint() of the encoder's model
  samples_sha256: str        # samples_digest() of the samples
  encoder: dict              # platform, device, JAX and jaxlib versions
  segments: list             # [length, mode, payload bytes] per segment
  mode: str = "codes"        # "pcm16" or "codes"
  channels: int = 1
  mixing: dict | None = None  # Mixing.to_json(); None: the model alone (version 1)
  version: int = VERSION

  @property
  def bytes_per_sample(self) -> int:
    return 2 if self.mode == "pcm16" else 1

  @property
  def segments_per_channel(self) -> int:
    return len(self.segments) // max(self.channels, 1)


def model_fingerprint(model, params) -> str:
  """SHA-256 (hex, 32 characters) of the family, its config and every parameter."""
  digest = hashlib.sha256()
  digest.update(model.name.encode())
  digest.update(json.dumps(dataclasses.asdict(model.config), sort_keys=True,
                           default=str).encode())
  for path, leaf in sorted(jax.tree_util.tree_flatten_with_path(params)[0],
                           key=lambda item: jax.tree_util.keystr(item[0])):
    array = np.ascontiguousarray(np.asarray(leaf))
    digest.update(f"{jax.tree_util.keystr(path)} {array.dtype} {array.shape}".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()[:32]


def codes_sha256(codes: np.ndarray) -> str:
  """Version 1's hash: SHA-256 of all the codes."""
  return hashlib.sha256(np.asarray(codes, np.uint8).tobytes()).hexdigest()[:32]


def sample_bytes(samples: np.ndarray, mode: str) -> bytes:
  """How samples are stored verbatim and hashed: uint8 codes or int16 LE."""
  return np.asarray(samples, "<i2" if mode == "pcm16" else np.uint8).tobytes()


def samples_digest(segment_digests: list[bytes]) -> str:
  """The file's hash: SHA-256 of each segment's SHA-256, in order (so a decoder
  that writes segments side by side hashes each as it streams)."""
  return hashlib.sha256(b"".join(segment_digests)).hexdigest()[:32]


# The fewest bits a sample can cost: its code's frequency is at most 2^16 - 255
# (`rans.frequencies_of_probs`), and rANS's state grows by at least that cost times
# (1 - 2^-7) a symbol (its state is >= 2^7 f when it codes one).
_MIN_BITS_PER_SAMPLE = math.log2(65536 / 65281) * (1 - 2 ** -7)


def max_samples(payload_bytes: int) -> int:
  """The most samples a rANS payload of this size can hold: its stream's bits plus
  the state's 8 bits of headroom, over the cheapest sample."""
  return int((8 * max(payload_bytes - 4, 0) + 8) / _MIN_BITS_PER_SAMPLE) + 1


def check_claims(header: Header, name: str) -> None:
  """CodecFileError unless the header's layout is one the encoder could write:
  lengths add up, verbatim payloads are exactly their samples, and no rANS segment
  claims more samples than its payload can hold."""
  def bad(why):
    return CodecFileError(f"{name} is corrupted or crafted: {why}; it was not "
                          f"decoded")
  if header.mode not in ("pcm16", "codes"):
    raise bad(f"unknown mode {header.mode!r}")
  if not 1 <= header.channels <= MAX_CHANNELS:
    raise bad(f"{header.channels} channels (at most {MAX_CHANNELS})")
  if header.num_samples < 0:
    raise bad(f"a negative sample count ({header.num_samples})")
  if header.num_samples and (not header.segments or
                             len(header.segments) % header.channels):
    raise bad(f"{len(header.segments)} segments for {header.channels} channels")
  for i, (length, mode, size) in enumerate(header.segments):
    if length < 1 or size < 0:
      raise bad(f"segment {i} has length {length} and {size} bytes")
    if mode == VERBATIM and size != length * header.bytes_per_sample:
      raise bad(f"verbatim segment {i} has {size} bytes for {length} samples")
    if mode == RANS and (size < 4 or length > max_samples(size)):
      raise bad(f"segment {i} claims {length:,} samples; its {size:,} bytes can "
                f"hold at most {max_samples(size):,}")
    if mode not in (RANS, VERBATIM):
      raise bad(f"segment {i} has unknown mode {mode!r}")
  per_channel = header.segments_per_channel
  for c in range(header.channels if header.segments else 0):
    lengths = [s[0] for s in header.segments[c * per_channel:(c + 1) * per_channel]]
    if sum(lengths) != header.num_samples:
      raise bad(f"channel {c}'s segments hold {sum(lengths)} samples, not "
                f"{header.num_samples}")


def this_platform() -> dict:
  """Where the probabilities are computed: what a decoder must match."""
  device = jax.devices()[0]
  import jaxlib  # pylint: disable=g-import-not-at-top
  return {"backend": jax.default_backend(), "device": device.device_kind,
          "machine": platform.machine(), "jax": jax.__version__,
          "jaxlib": jaxlib.__version__}


def describe_platform(p: dict) -> str:
  return (f"{p.get('backend')} ({p.get('device')}, {p.get('machine')}) with jax "
          f"{p.get('jax')}")


def pack(header: Header, segments: list[Segment]) -> bytes:
  """The file's bytes."""
  header.segments = [[s.length, s.mode, len(s.payload)] for s in segments]
  # zlib: the field names and the segment list repeat (~700 -> ~250 bytes).
  text = zlib.compress(json.dumps(dataclasses.asdict(header),
                                  separators=(",", ":")).encode(), 9)
  body = _PREFIX.pack(MAGIC, header.version, len(text)) + text + b"".join(
      s.payload for s in segments)
  return body + struct.pack("<I", zlib.crc32(body))


def unpack(data: bytes, name: str = "the input") -> tuple[Header, list[Segment]]:
  """(header, segments) of a file's bytes; CodecFileError naming what is wrong."""
  if len(data) < _PREFIX.size + 4 or data[:4] != MAGIC:
    raise CodecFileError(f"{name} is not an audiolm_jax codec file (it does not start "
                         f"with {MAGIC!r}); encode audio with `python -m "
                         f"audiolm_jax.codec encode`")
  _, version, header_len = _PREFIX.unpack_from(data)
  if version not in READS:
    raise CodecFileError(f"{name} has codec format version {version}; this version "
                         f"of audiolm_jax reads versions {READS}: decode it with the "
                         f"audiolm_jax that wrote it")
  start = _PREFIX.size + header_len
  if len(data) < start + 4:
    raise CodecFileError(f"{name} is truncated: {len(data)} bytes, shorter than its "
                         f"own header")
  try:
    fields = json.loads(zlib.decompress(data[_PREFIX.size:start]))
    if version == 1:  # 8-bit codes by the model alone, one hash of all the codes
      fields["samples_sha256"] = fields.pop("codes_sha256")
    fields["version"] = version
    header = Header(**fields)
    header.segments = [[int(n), str(m), int(size)] for n, m, size in header.segments]
    for key in ("num_samples", "channels", "sample_rate", "block"):
      setattr(header, key, int(getattr(header, key)))
    sizes = [size for _, _, size in header.segments]
  except (ValueError, TypeError, KeyError, zlib.error) as e:
    raise CodecFileError(f"{name} is corrupted: its header does not parse "
                         f"({type(e).__name__})") from None
  expected = start + sum(sizes) + 4
  if len(data) != expected:
    raise CodecFileError(f"{name} is {'truncated' if len(data) < expected else 'too long'}"
                         f": {len(data)} bytes where its header says {expected}")
  (crc,) = struct.unpack_from("<I", data, len(data) - 4)
  if zlib.crc32(data[:-4]) != crc:
    raise CodecFileError(f"{name} is corrupted: the CRC-32 of its bytes does not "
                         f"match the one stored at its end")
  check_claims(header, name)
  segments, at = [], start
  for (length, mode, size) in header.segments:
    segments.append(Segment(int(length), mode, data[at:at + size]))
    at += size
  return header, segments


def default_mode() -> int:
  """The permissions a plain `open(path, "w")` would give a new file (0666 - umask)."""
  umask = os.umask(0)
  os.umask(umask)
  return 0o666 & ~umask


def write_atomically(path: str, data: bytes) -> None:
  """Writes `data` to a temporary file beside `path`, then renames it over `path`:
  a reader never sees a partial file, and a failure leaves no output."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".partial")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    os.chmod(tmp, default_mode())  # mkstemp's 0600 would hide it from others
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
