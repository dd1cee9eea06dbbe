"""Audio files and folders through the codec, as `evaluate --audio` reads them.

Encoding reads each file (any format libsndfile reads, resampled to 16 kHz mono),
makes the run's 8-bit codes from its 16-bit PCM (the one lossy step, measured as
the codes' SNR against the file's audio), and writes `compress`'s bytes; decoding
writes a 16 kHz WAV of the decoded codes (each at its bin's centre, so the WAV
quantizes back to exactly those codes). Outputs are written atomically; an
unreadable input is reported with its reason and skipped.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time

import numpy as np

from audiolm_jax.codec import compression, container
from audiolm_jax.data import audio_io, builders, quantization, recipes


@dataclasses.dataclass
class Encoded:
  name: str
  output: str
  num_samples: int
  coded_bytes: int
  snr_db: float | None     # None where the recipe rescales the audio (sashimi)
  seconds: float

  @property
  def bits_per_sample(self) -> float:
    return 8 * self.coded_bytes / max(self.num_samples, 1)


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
      names, ignored = builders.audio_folder_files(source)
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


def encode_path(model, params, recipe: str, source: str, target: str, *,
                segments: int = 16) -> tuple[list[Encoded], dict[str, str]]:
  """Encodes an audio file (to the file `target`) or every audio file under a
  folder (to `target`/NAME.alc); returns (results, skipped files with reasons)."""
  skipped: dict[str, str] = {}
  results = []
  for name, path, out in _pairs(source, target, None, container.EXTENSION, skipped):
    try:
      audio = audio_io.load_audio(path)
    except audio_io.AudioFileError as e:
      skipped[name] = e.reason
      continue
    codes = recipes.codes(recipes.to_pcm16(audio), recipe)
    start = time.perf_counter()
    data = compression.compress(model, params, codes, segments=segments,
                                recipe=recipe)
    seconds = time.perf_counter() - start
    container.write_atomically(out, data)
    results.append(Encoded(name, out, len(codes), len(data),
                           codes_snr_db(audio, codes, recipe), seconds))
  return results, skipped


def _write_wav_atomically(path: str, audio: np.ndarray) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".wav")
  os.close(fd)
  try:
    audio_io.write_wav(tmp, audio)
    os.chmod(tmp, container.default_mode())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


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
      codes, header = compression.decompress(model, params, data, name=path)
    except container.CodecFileError as e:
      failed[name] = str(e)
      continue
    seconds = time.perf_counter() - start
    _write_wav_atomically(out, quantization.bin_centres(codes, header.quantization))
    results.append(Decoded(name, out, len(codes), seconds))
  return results, failed
