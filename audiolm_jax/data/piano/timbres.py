"""Several pianos, rooms and levels: how the multi-timbre built-in set sounds.

A timbre is one instrument: a General MIDI soundfont's program 0 played by FluidSynth
(its own reverb and chorus off), or a voicing of the built-in NumPy piano. Each piece
is rendered with a seeded timbre, then placed in a seeded room (a synthetic
exponentially decaying reverb tail mixed under the dry sound) and scaled to a seeded
peak level between -30 and -1 dBFS. `plan` draws all of it from the piece's name, so
a file sounds the same on every machine that has the same timbres.

One timbre is held out: only the validation and test splits use it, so their NLL
measures a piano the model never heard. It is TimGM6mb's piano when that soundfont is
installed, else the NumPy `upright` voicing. The test pieces are also rendered with
the training timbres (`test_seen_timbres`), to separate the cost of an unheard piano
from that of unheard music.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

import numpy as np
import scipy.signal

from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.data.piano import fluidsynth, synth
from audiolm_jax.data.piano.performance import Performance

# Soundfonts Debian packages (fluid-soundfont-gm, csound-soundfont,
# timgm6mb-soundfont), each with the folders distributions put them in.
SOUNDFONTS: dict[str, tuple[str, ...]] = {
    "fluidr3": ("/usr/share/sounds/sf2/FluidR3_GM.sf2",
                "/usr/share/soundfonts/FluidR3_GM.sf2"),
    "gmbank": ("/usr/share/sounds/sf2/sf_GMbank.sf2",
               "/usr/share/samples/sf_GMbank.sf2", "/usr/share/soundfonts/sf_GMbank.sf2"),
    "timgm6mb": ("/usr/share/sounds/sf2/TimGM6mb.sf2",
                 "/usr/share/soundfonts/TimGM6mb.sf2"),
}
VOICINGS: dict[str, synth.Voicing] = {"numpy": synth.GRAND, "numpy_upright": synth.UPRIGHT}
TIMBRES: tuple[str, ...] = ("fluidr3", "gmbank", "timgm6mb", "numpy", "numpy_upright")
# The first of these that is present is held out (validation and test only).
HELD_OUT_PREFERENCE = ("timgm6mb", "numpy_upright")

PEAK_DBFS = (-30.0, -1.0)   # each file's peak, uniform in dB
ROOM_WET = (0.0, 0.35)      # reverb tail level relative to the dry sound
ROOM_RT60_S = (0.2, 1.6)    # the tail's decay time to -60 dB


def soundfont_path(timbre: str) -> str | None:
  """The installed .sf2 of a soundfont timbre, or None."""
  return next((p for p in SOUNDFONTS[timbre] if os.path.isfile(p)), None)


def available() -> tuple[str, ...]:
  """The timbres this machine can render, in `TIMBRES` order."""
  has_fluidsynth = shutil.which("fluidsynth") is not None
  return tuple(t for t in TIMBRES if t in VOICINGS
               or (has_fluidsynth and soundfont_path(t) is not None))


@dataclasses.dataclass(frozen=True)
class TimbreSet:
  """Which timbres train and which one is held out; its `name` names the dataset."""

  train: tuple[str, ...]
  held_out: str

  def __post_init__(self):
    unknown = [t for t in (*self.train, self.held_out) if t not in TIMBRES]
    if unknown or not self.train or self.held_out in self.train:
      raise ValueError(f"a timbre set needs training timbres from {TIMBRES} and one "
                       f"other held out; got train={self.train}, "
                       f"held_out={self.held_out!r}")

  @property
  def name(self) -> str:
    return f"mix_{'+'.join(self.train)}_heldout_{self.held_out}"

  @classmethod
  def from_available(cls, timbres: tuple[str, ...]) -> "TimbreSet":
    held = next(t for t in HELD_OUT_PREFERENCE if t in timbres)
    return cls(tuple(t for t in TIMBRES if t in timbres and t != held), held)

  @classmethod
  def parse(cls, name: str) -> "TimbreSet":
    """Inverse of `name`."""
    if not name.startswith("mix_") or "_heldout_" not in name:
      raise ValueError(f"{name!r} is not a timbre set name (mix_A+B_heldout_C)")
    train, held = name[len("mix_"):].split("_heldout_")
    return cls(tuple(train.split("+")), held)


def all_sets() -> list[TimbreSet]:
  """Every set some machine can have: the NumPy voicings plus any soundfonts."""
  fonts = [t for t in TIMBRES if t in SOUNDFONTS]
  out = []
  for mask in range(1 << len(fonts)):
    have = {f for i, f in enumerate(fonts) if mask >> i & 1} | set(VOICINGS)
    out.append(TimbreSet.from_available(tuple(t for t in TIMBRES if t in have)))
  return out


@dataclasses.dataclass(frozen=True)
class Rendering:
  """How one file was rendered (stored per file in the dataset's metadata)."""

  timbre: str
  peak_dbfs: float
  room_wet: float
  room_rt60_s: float


def plan(seed: int, timbres: tuple[str, ...]) -> Rendering:
  """A seeded timbre (uniform over `timbres`), room and level for one file."""
  rng = np.random.default_rng([seed, 19])
  return Rendering(timbre=timbres[int(rng.integers(len(timbres)))],
                   peak_dbfs=round(float(rng.uniform(*PEAK_DBFS)), 2),
                   room_wet=round(float(rng.uniform(*ROOM_WET)), 3),
                   room_rt60_s=round(float(rng.uniform(*ROOM_RT60_S)), 3))


def room_response(rt60_s: float, seed: int, rate: int = SAMPLE_RATE) -> np.ndarray:
  """float32[rt60_s * rate]: a reverb tail of unit energy (decaying, darkening noise).

  Starts 10 ms after the direct sound (a pre-delay); the tail is low-passed by a
  one-pole filter so that high frequencies die first, as in a real room.
  """
  n = max(int(rt60_s * rate), 1)
  t = np.arange(n) / rate
  noise = np.random.default_rng([seed, 23]).normal(0, 1, n)
  tail = scipy.signal.lfilter([0.35], [1, -0.65], noise) * np.exp(-6.91 * t / rt60_s)
  tail[:int(0.01 * rate)] = 0.0
  return (tail / np.sqrt(np.sum(tail ** 2) + 1e-12)).astype(np.float32)


def render(perf: Performance, r: Rendering, seed: int, rate: int = SAMPLE_RATE
           ) -> np.ndarray:
  """float32[T]: `perf` played on `r.timbre`, in `r`'s room, peaking at `r.peak_dbfs`."""
  if r.timbre in VOICINGS:
    dry = synth.render(perf, rate, peak=1.0, voicing=VOICINGS[r.timbre])
  else:
    path = soundfont_path(r.timbre)
    if path is None:
      raise RuntimeError(f"timbre {r.timbre} needs the soundfont at one of "
                         f"{SOUNDFONTS[r.timbre]} (apt-get install the package that "
                         f"holds it) and FluidSynth")
    dry = fluidsynth.render(perf, rate, soundfont=path, effects=False)
  audio = dry.astype(np.float32)
  if r.room_wet > 0:
    tail = scipy.signal.oaconvolve(audio, room_response(r.room_rt60_s, seed, rate))
    audio = np.pad(audio, (0, len(tail) - len(audio))) + r.room_wet * tail
  top = float(np.abs(audio).max()) if audio.size else 0.0
  peak = 10.0 ** (r.peak_dbfs / 20.0)
  return (audio * (peak / top)).astype(np.float32) if top > 0 else audio
