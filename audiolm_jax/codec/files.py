"""Audio files and folders through the codec.

Two modes. "pcm16" (the default) stores a 16-bit PCM file at 16 kHz exactly, every
channel: `decode` writes a WAV whose samples equal the input's; any other file
(another rate, 24-bit or float samples) is refused with the reason. "codes" reads
any file `evaluate --audio` reads (resampled to 16 kHz mono), makes the run's 8-bit
codes (the one lossy step, measured as the codes' SNR against the file's audio) and
stores those exactly; `decode` writes a 16 kHz WAV of the codes, each at its bin's
centre (so the WAV quantizes back to exactly those codes). Decoding streams into the
output WAV block by block (memory does not grow with the file). Outputs are written
atomically; an input that cannot be coded is reported with its reason and skipped.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import tempfile
import time

import numpy as np

from audiolm_jax.codec import compression, container
from audiolm_jax.codec.mixing import Mixing
from audiolm_jax.data import audio_io, tfds_builders, quantization, recipes


@dataclasses.dataclass
class Encoded:
  name: str
  output: str
  num_samples: int
  coded_bytes: int
  snr_db: float | None     # None where lossless or the recipe rescales (sashimi)
  seconds: float
  channels: int = 1

  @property
  def bits_per_sample(self) -> float:
    return 8 * self.coded_bytes / max(self.num_samples * self.channels, 1)


@dataclasses.dataclass
class Decoded:
  name: str
  output: str
  num_samples: int
  seconds: float


def codes_snr_db(audio: np.ndarray, codes: np.ndarray, recipe: str) -> float | None:
  """SNR (dB) of the codes' decoded audio against the audio read from the file."""
  if recipe == "sashimi" or not len(audio):
    return None
  decoded = quantization.bin_centres(codes, recipes.quantization_of(recipe))
  noise = float(np.sum((np.asarray(audio, np.float64) - decoded) ** 2))
  signal = float(np.sum(np.asarray(audio, np.float64) ** 2))
  if noise == 0.0:
    return float("inf")
  return 10 * np.log10(max(signal, 1e-30) / noise)


def _pairs(source: str, target: str, in_ext: tuple[str, ...] | None, out_ext: str,
           skipped: dict[str, str]) -> list[tuple[str, str, str]]:
  """(name, input path, output path) of a file, or of every file under a folder."""
  if os.path.isdir(source):
    if in_ext is None:
      names, ignored = tfds_builders.audio_folder_files(source)
      skipped.update(ignored)
    else:
      names = sorted(os.path.relpath(os.path.join(r, f), source)
                     for r, _, fs in os.walk(source) for f in fs
                     if f.endswith(in_ext))
      if not names:
        raise FileNotFoundError(f"no {'/'.join(in_ext)} files under {source}")
    return [(n, os.path.join(source, n),
             os.path.join(target, os.path.splitext(n)[0] + out_ext)) for n in names]
  if not os.path.exists(source):
    raise FileNotFoundError(f"{source} does not exist")
  name = os.path.basename(source)
  if os.path.isdir(target):
    target = os.path.join(target, os.path.splitext(name)[0] + out_ext)
  return [(name, source, target)]


def read_pcm16(path: str | os.PathLike) -> np.ndarray:
  """int16 [T, C] of a 16-bit PCM file at 16 kHz, exactly as stored; AudioFileError
  naming what else it is (16-bit lossless mode resamples and converts nothing)."""
  # The same checks as every reader (missing, empty, corrupt, truncated), one read.
  pcm, rate, subtype = audio_io.read_checked(path, "int16")
  if subtype != "PCM_16" or rate != audio_io.SAMPLE_RATE:
    raise audio_io.AudioFileError(
        path, f"16-bit lossless mode stores 16-bit PCM at {audio_io.SAMPLE_RATE} Hz "
              f"exactly; this file is {subtype} at {rate} Hz (it is never "
              f"resampled or converted here): use --mode=codes to store its 8-bit "
              f"codes at 16 kHz")
  return pcm


def encode_path(model, params, recipe: str, source: str, target: str, *,
                segments: int = 16, mode: str = "pcm16", mixing: Mixing = Mixing()
                ) -> tuple[list[Encoded], dict[str, str]]:
  """Encodes an audio file (to the file `target`) or every audio file under a
  folder (to `target`/NAME.alc); returns (results, skipped files with reasons)."""
  if mode == "pcm16":
    compression.check_recipe_for_pcm16(recipe)
  skipped: dict[str, str] = {}
  results = []
  for name, path, out in _pairs(source, target, None, container.EXTENSION, skipped):
    try:
      if mode == "pcm16":
        pcm = read_pcm16(path)
      else:
        audio = audio_io.load_audio(path)
    except audio_io.AudioFileError as e:
      skipped[name] = e.reason
      continue
    start = time.perf_counter()
    if mode == "pcm16":
      data = compression.compress_pcm(model, params, pcm, recipe=recipe,
                                      segments=segments, mixing=mixing)
      frames, channels, snr = pcm.shape[0], pcm.shape[1], None
    else:
      codes = recipes.codes(recipes.to_pcm16(audio), recipe)
      data = compression.compress(model, params, codes, segments=segments,
                                  recipe=recipe, mixing=mixing)
      frames, channels, snr = len(codes), 1, codes_snr_db(audio, codes, recipe)
    seconds = time.perf_counter() - start
    container.write_atomically(out, data)
    results.append(Encoded(name, out, frames, len(data), snr, seconds, channels))
  return results, skipped


_WAV_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")


class _WavWriter:
  """A 16-bit PCM WAV [frames, channels] written in place through a memory map, so
  a decoder can write each segment's blocks where they belong."""

  def __init__(self, path: str, frames: int, channels: int):
    data_bytes = 2 * frames * channels
    if data_bytes + 36 >= 1 << 32:
      raise container.CodecFileError(f"{frames:,} frames of {channels} channels do "
                                     f"not fit a WAV file (4 GiB)")
    with open(path, "wb") as f:
      f.write(_WAV_HEADER.pack(b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1,
                               channels, audio_io.SAMPLE_RATE,
                               2 * channels * audio_io.SAMPLE_RATE, 2 * channels,
                               16, b"data", data_bytes))
      f.truncate(_WAV_HEADER.size + data_bytes)
    self.samples = (np.memmap(path, "<i2", "r+", _WAV_HEADER.size, (frames, channels))
                    if frames else np.zeros((0, channels), np.int16))

  def __setitem__(self, key, values):
    self.samples[key] = values

  def __getitem__(self, key):
    return self.samples[key]

  def close(self):
    if isinstance(self.samples, np.memmap):
      self.samples.flush()
    self.samples = None


class _CodesAsWav(_WavWriter):
  """Writes 8-bit codes as their bins' centres; reads them back as codes (the
  centres quantize back to exactly their codes)."""

  def __init__(self, path, frames, kind):
    super().__init__(path, frames, 1)
    self.kind = kind

  def __setitem__(self, key, codes):
    self.samples[key] = recipes.to_pcm16(quantization.bin_centres(codes, self.kind))

  def __getitem__(self, key):
    return quantization.encode(recipes.from_pcm16(self.samples[key]), self.kind)


def decode_file(model, params, data: bytes, path: str, name: str) -> int:
  """Decodes a codec file's bytes into the WAV `path` (written beside it, then
  renamed: a failure leaves no output); returns the frames written."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".partial")
  os.close(fd)
  writer = []

  def allocate(header):
    writer.append(_WavWriter(tmp, header.num_samples, header.channels)
                  if header.mode == "pcm16" else
                  _CodesAsWav(tmp, header.num_samples, header.quantization))
    return writer[0]

  try:
    header = compression.decode_into(model, params, data, allocate, name=name)
    writer[0].close()
    os.chmod(tmp, container.default_mode())
    os.replace(tmp, path)
  except BaseException:
    if writer and writer[0].samples is not None:
      writer[0].close()
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  return header.num_samples


def decode_path(model, params, source: str, target: str
                ) -> tuple[list[Decoded], dict[str, str]]:
  """Decodes a codec file (to the WAV `target`) or every .alc file under a folder
  (to `target`/NAME.wav); returns (results, files that failed with the reason)."""
  failed: dict[str, str] = {}
  results = []
  for name, path, out in _pairs(source, target, (container.EXTENSION,), ".wav",
                                failed):
    with open(path, "rb") as f:
      data = f.read()
    start = time.perf_counter()
    try:
      frames = decode_file(model, params, data, out, path)
    except container.CodecFileError as e:
      failed[name] = str(e)
      continue
    results.append(Decoded(name, out, frames, time.perf_counter() - start))
  return results, failed
