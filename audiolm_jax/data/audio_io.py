"""Reading user audio: any format libsndfile reads, to float32 mono at 16 kHz.

Every failure is an `AudioFileError` that names the file and the reason, so a dataset
build can report exactly what it skipped.
"""

from __future__ import annotations

import math
import os

import numpy as np
import soundfile as sf
from scipy import signal

# The one sample rate of the project: datasets, models and outputs are 16 kHz.
SAMPLE_RATE = 16_000
# File extensions of each libsndfile format (RAW, header-less, cannot be read blind).
_FORMAT_EXTENSIONS = {
    "AIFF": ("aiff", "aif", "aifc"), "AU": ("au", "snd"), "AVR": ("avr",),
    "CAF": ("caf",), "FLAC": ("flac",), "HTK": ("htk",), "SVX": ("iff", "svx", "8svx"),
    "MAT4": ("mat",), "MAT5": ("mat",), "MP3": ("mp3",), "OGG": ("ogg", "oga", "opus"),
    "PAF": ("paf",), "PVF": ("pvf",), "RF64": ("rf64",), "SD2": ("sd2",),
    "SDS": ("sds",), "IRCAM": ("sf", "ircam"), "VOC": ("voc",), "W64": ("w64",),
    "WAV": ("wav", "wave"), "NIST": ("nist", "sph"), "WAVEX": ("wav",), "WVE": ("wve",),
    "XI": ("xi",),
}


def audio_extensions() -> tuple[str, ...]:
  """".ext" of every format the installed libsndfile reads (MP3 where it has it)."""
  formats = sf.available_formats()
  return tuple(sorted({f".{e}" for fmt, exts in _FORMAT_EXTENSIONS.items()
                       if fmt in formats for e in exts}))


AUDIO_EXTENSIONS = audio_extensions()
MIN_RATE, MAX_RATE = 4_000, 384_000


class AudioFileError(ValueError):
  """A file that cannot be turned into 16 kHz mono audio; says which and why."""

  def __init__(self, path: str, reason: str):
    super().__init__(f"{path}: {reason}")
    self.path, self.reason = str(path), reason


def resample(audio: np.ndarray, rate: int, target_rate: int = SAMPLE_RATE
             ) -> np.ndarray:
  """Polyphase resampling (Kaiser-windowed FIR) of a 1-D float signal."""
  if rate == target_rate:
    return audio
  g = math.gcd(rate, target_rate)
  return signal.resample_poly(audio, target_rate // g, rate // g).astype(np.float32)


def _wav_missing_bytes(path: str) -> int:
  """How many bytes of a RIFF/WAVE file's data chunk are missing (0 if complete).

  libsndfile silently shortens a truncated WAV to what is there, so we compare the
  data chunk's declared size with the file's real size ourselves. Streaming writers
  that leave the size at 0 or 0xFFFFFFFF are not flagged.
  """
  with open(path, "rb") as f:
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
      return 0
    size = os.fstat(f.fileno()).st_size
    while True:
      chunk = f.read(8)
      if len(chunk) < 8:
        return 0
      cid, n = chunk[:4], int.from_bytes(chunk[4:], "little")
      if cid == b"data":
        if n in (0, 0xFFFFFFFF):
          return 0
        return max(0, f.tell() + n - size)
      f.seek(n + (n & 1), os.SEEK_CUR)


def read_checked(path: str | os.PathLike, dtype: str
                 ) -> tuple[np.ndarray, int, str]:
  """([T, C] samples as `dtype`, sample rate, soundfile subtype) of an audio file,
  read once. Raises AudioFileError for a missing, empty, corrupt, truncated or
  non-audio file and for sample rates outside [4 kHz, 384 kHz]."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise AudioFileError(path, "no such file")
  if os.path.getsize(path) == 0:
    raise AudioFileError(path, "empty file (0 bytes)")
  try:
    with sf.SoundFile(path) as f:
      rate, frames, subtype = f.samplerate, f.frames, f.subtype
      data = f.read(dtype=dtype, always_2d=True)
  except (sf.LibsndfileError, RuntimeError, TypeError) as e:
    raise AudioFileError(path, f"not a readable audio file ({e})") from None
  if not MIN_RATE <= rate <= MAX_RATE:
    raise AudioFileError(path, f"sample rate {rate} Hz is outside "
                               f"[{MIN_RATE}, {MAX_RATE}] Hz")
  if data.shape[0] == 0:
    raise AudioFileError(path, "no audio samples")
  missing = _wav_missing_bytes(path)
  if data.shape[0] < frames or missing:
    raise AudioFileError(path, f"truncated: the header declares more audio than "
                               f"the file holds ({missing} bytes missing)")
  return data, rate, subtype


def load_audio(path: str | os.PathLike, target_rate: int = SAMPLE_RATE) -> np.ndarray:
  """float32[T] mono audio at `target_rate`, in [-1, 1].

  Channels are averaged (any number of them); integer formats (8/16/24/32-bit) are
  scaled to [-1, 1) by soundfile; float files must hold finite samples, and values
  beyond [-1, 1] are clipped later by quantization. Raises AudioFileError for a
  missing, empty, corrupt, truncated or non-audio file, for NaN or infinite samples,
  and for sample rates outside [4 kHz, 384 kHz].
  """
  data, rate, _ = read_checked(path, "float32")
  finite = np.isfinite(data)
  if not finite.all():
    raise AudioFileError(path, f"{int(data.size - finite.sum())} NaN or infinite "
                               f"samples")
  mono = data.mean(axis=1)
  return resample(mono, rate, target_rate)


def write_wav(path: str | os.PathLike, audio: np.ndarray,
              rate: int = SAMPLE_RATE) -> None:
  """Writes float audio in [-1, 1] as 16-bit PCM WAV."""
  sf.write(os.fspath(path), np.clip(audio, -1.0, 1.0), rate, subtype="PCM_16")
