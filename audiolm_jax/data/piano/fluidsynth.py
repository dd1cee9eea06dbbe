"""Rendering with the FluidSynth command-line synthesizer and a General MIDI soundfont.

Debian/Ubuntu/Colab: `apt-get install fluidsynth fluid-soundfont-gm` gives the binary
and FluidR3_GM.sf2, whose program 0 is a sampled acoustic grand piano. FluidSynth
renders stereo at the requested rate; we mix to mono. Gain 0.5 leaves headroom while
synthesizing; each piece is then peak-normalized to 0.9 (as a mastered recording
would be), so quiet renders do not waste the 8-bit range or starve the encoder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile as sf

from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.data.piano.midi import performance_to_midi
from audiolm_jax.data.piano.performance import Performance

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)
GAIN = 0.5
PEAK = 0.9


def find_soundfont() -> str | None:
  """A GM soundfont: $AUDIOLM_SOUNDFONT, else the first standard path that exists."""
  env = os.environ.get("AUDIOLM_SOUNDFONT")
  if env:
    if not os.path.isfile(env):
      raise FileNotFoundError(f"AUDIOLM_SOUNDFONT={env} does not exist")
    return env
  return next((p for p in SOUNDFONT_CANDIDATES if os.path.isfile(p)), None)


def available() -> bool:
  """True when the `fluidsynth` binary and a GM soundfont are both present."""
  return shutil.which("fluidsynth") is not None and find_soundfont() is not None


def render(perf: Performance, rate: int = SAMPLE_RATE, timeout_s: float = 600.0, *,
           soundfont: str | None = None, effects: bool = True) -> np.ndarray:
  """float32[T] mono audio of `perf` on a soundfont's acoustic grand (program 0).

  soundfont: a .sf2 path (default `find_soundfont()`); effects=False turns off
  FluidSynth's own reverb and chorus (the multi-timbre set adds its own room).
  """
  soundfont = soundfont or find_soundfont()
  if shutil.which("fluidsynth") is None or soundfont is None:
    raise RuntimeError("FluidSynth rendering needs the `fluidsynth` binary and a GM "
                       "soundfont: apt-get install fluidsynth fluid-soundfont-gm")
  with tempfile.TemporaryDirectory(prefix="audiolm_fs_") as tmp:
    mid, wav = os.path.join(tmp, "in.mid"), os.path.join(tmp, "out.wav")
    with open(mid, "wb") as f:
      f.write(performance_to_midi(perf))
    cmd = ["fluidsynth", "-ni", "-q", "-g", str(GAIN), "-r", str(rate),
           "-o", "synth.cpu-cores=1", "-T", "wav", "-O", "s16", "-F", wav]
    if not effects:
      cmd += ["-R", "0", "-C", "0"]
    cmd += [soundfont, mid]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                          check=False)
    if proc.returncode != 0 or not os.path.isfile(wav):
      raise RuntimeError(f"fluidsynth failed ({proc.returncode}): "
                         f"{proc.stderr.strip()[-500:]}")
    stereo, got_rate = sf.read(wav, dtype="float32", always_2d=True)
  if got_rate != rate:
    raise RuntimeError(f"fluidsynth wrote {got_rate} Hz, asked for {rate} Hz")
  mono = stereo.mean(axis=1)
  top = float(np.abs(mono).max()) if mono.size else 0.0
  return mono * (PEAK / top) if top > 0 else mono
