"""The codec's file format: a self-describing header, the segments, a checksum.

    magic "ALMC" | format version (1 byte) | header length (4 bytes, little-endian)
    | header (zlib-compressed UTF-8 JSON) | segment payloads, in file order
    | CRC-32 of all before

The header holds the sample rate, the number of codes, the recipe that made them,
the segment layout (each segment's length, whether it is rANS-coded or stored
verbatim, and its payload size), the model's family and fingerprint, the platform
and JAX version that encoded the file, and the SHA-256 of the codes. A rANS payload
is the final state (4 bytes, little-endian) then the stream's bytes; a verbatim one
is the codes themselves. The CRC catches a truncated or altered file before any
decoding; the codes' hash catches a decoder whose arithmetic differs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import struct
import tempfile
import zlib

import jax
import numpy as np

MAGIC = b"ALMC"
VERSION = 1
EXTENSION = ".alc"
RANS, VERBATIM = "rans", "verbatim"
_PREFIX = struct.Struct("<4sBI")  # magic, version, header length


class CodecFileError(ValueError):
  """A codec file that cannot be decoded as it is (names the file and the cause)."""


@dataclasses.dataclass
class Segment:
  length: int    # codes in the segment
  mode: str      # RANS or VERBATIM
  payload: bytes


@dataclasses.dataclass
class Header:
  num_samples: int
  sample_rate: int
  recipe: str
  quantization: str
  block: int                 # steps per jitted block, as the encoder ran them
  family: str
  fingerprint: str           # model_fingerprint() of the encoder's model
  codes_sha256: str
  encoder: dict              # platform, device, JAX and jaxlib versions
  segments: list             # [length, mode, payload bytes] per segment


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
  return hashlib.sha256(np.asarray(codes, np.uint8).tobytes()).hexdigest()[:32]


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
  body = _PREFIX.pack(MAGIC, VERSION, len(text)) + text + b"".join(
      s.payload for s in segments)
  return body + struct.pack("<I", zlib.crc32(body))


def unpack(data: bytes, name: str = "the input") -> tuple[Header, list[Segment]]:
  """(header, segments) of a file's bytes; CodecFileError naming what is wrong."""
  if len(data) < _PREFIX.size + 4 or data[:4] != MAGIC:
    raise CodecFileError(f"{name} is not an audiolm_jax codec file (it does not start "
                         f"with {MAGIC!r}); encode audio with `python -m "
                         f"audiolm_jax.codec encode`")
  _, version, header_len = _PREFIX.unpack_from(data)
  if version != VERSION:
    raise CodecFileError(f"{name} has codec format version {version}; this version "
                         f"of audiolm_jax reads version {VERSION}")
  start = _PREFIX.size + header_len
  if len(data) < start + 4:
    raise CodecFileError(f"{name} is truncated: {len(data)} bytes, shorter than its "
                         f"own header")
  try:
    fields = json.loads(zlib.decompress(data[_PREFIX.size:start]))
    header = Header(**fields)
    sizes = [int(size) for _, _, size in header.segments]
  except (ValueError, TypeError, zlib.error) as e:
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
