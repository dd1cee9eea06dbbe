"""A small sampled-piano synthesizer in NumPy: the fallback when FluidSynth is absent.

Like a sample-based piano, it first synthesizes one long note per key and velocity
layer, then plays a performance by copying, scaling and damping those notes. Each
stored note is additive: inharmonic partials f_n = n f0 sqrt(1 + B n^2) with B
rising towards the treble, a hammer-position comb, brightness that grows with
velocity, a two-stage (prompt then after-sound) decay that is faster for high keys
and high partials, and a short hammer thump. A key's damper cuts it with a 60 ms
release. It sounds like a plain electric piano more than a concert grand, but it is
deterministic, needs nothing outside NumPy, and renders hours of audio in seconds.

A `Voicing` sets those constants: `GRAND` is the original piano, `UPRIGHT` a second,
audibly different instrument (stiffer strings, a hammer nearer the end, a brighter,
shorter tone and more thump) for the multi-timbre set.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.data.piano.performance import Performance

NOTE_SECONDS = 5.0
RELEASE_S = 0.06
LAYER_VELOCITIES = (30, 75, 120)
LOWEST_KEY, HIGHEST_KEY = 21, 108
_MAX_PARTIAL_HZ = 7_000.0
_MAX_PARTIALS = 24


@dataclasses.dataclass(frozen=True)
class Voicing:
  """The synthesizer's constants: one instrument."""

  inharmonicity: float = 1.2e-4   # string stiffness B at middle C
  hammer: float = 7.3             # struck at 1/hammer of the string
  tilt: float = 2.4               # spectral slope at velocity 0 (higher: darker)
  prompt_scale: float = 1.0       # multiplies the fast-decay time
  after_scale: float = 1.0        # multiplies the after-sound time
  thump: float = 0.15             # hammer noise level
  partial_decay: float = 0.35     # extra decay speed per partial


GRAND = Voicing()
UPRIGHT = Voicing(inharmonicity=4e-4, hammer=9.1, tilt=1.9, prompt_scale=0.7,
                  after_scale=0.45, thump=0.35, partial_decay=0.6)


def _synth_note(pitch: int, velocity: int, rate: int, v: Voicing) -> np.ndarray:
  f0 = 440.0 * 2.0 ** ((pitch - 69) / 12)
  inharmonicity = v.inharmonicity * 2.0 ** ((pitch - 60) / 18)
  t = (np.arange(int(NOTE_SECONDS * rate)) / rate).astype(np.float32)
  loud = velocity / 127.0
  tilt = v.tilt - 1.4 * loud  # spectral slope: softer is darker
  key = (pitch - LOWEST_KEY) / (HIGHEST_KEY - LOWEST_KEY)
  prompt_s = (0.6 - 0.45 * key) * v.prompt_scale          # first, fast decay
  after_s = (9.0 * (1 - key) ** 2 + 0.6) * v.after_scale  # slow after-sound
  rng = np.random.default_rng(pitch * 131 + velocity)
  note = np.zeros_like(t)
  for n in range(1, _MAX_PARTIALS + 1):
    f = n * f0 * np.sqrt(1.0 + inharmonicity * n * n)
    if f > _MAX_PARTIAL_HZ:
      break
    amp = n ** -tilt * (0.25 + abs(np.sin(np.pi * n / v.hammer)))
    speed = 1.0 + v.partial_decay * (n - 1)
    # Compute each partial only until it has decayed by 80 dB.
    m = min(len(t), int(after_s / speed * np.log(1e4) * rate) + 1)
    tt = t[:m]
    env = 0.7 * np.exp(-tt * (speed / prompt_s)) + 0.3 * np.exp(-tt * (speed / after_s))
    note[:m] += amp * env * np.sin(2 * np.pi * f * tt + rng.uniform(0, 2 * np.pi))
  thump = rng.normal(0, 1, t.shape) * np.exp(-t / 0.004) * v.thump * loud
  attack = np.minimum(t / 0.002, 1.0)
  note = (note * attack + thump) / max(np.abs(note).max(), 1e-9)
  return (note * loud ** 1.6).astype(np.float32)


_TABLES: dict[tuple[int, Voicing], np.ndarray] = {}


def note_table(rate: int = SAMPLE_RATE, voicing: Voicing = GRAND) -> np.ndarray:
  """float32[keys, layers, samples]: every key at every velocity layer (cached).

  Takes a few seconds once per process and voicing; build it before forking workers.
  """
  if (rate, voicing) not in _TABLES:
    _TABLES[rate, voicing] = np.stack([
        np.stack([_synth_note(p, vel, rate, voicing) for vel in LAYER_VELOCITIES])
        for p in range(LOWEST_KEY, HIGHEST_KEY + 1)])
  return _TABLES[rate, voicing]


def render(perf: Performance, rate: int = SAMPLE_RATE, peak: float = 0.9,
           voicing: Voicing = GRAND) -> np.ndarray:
  """float32[T] mono audio of a performance on `voicing`, peak-normalized to `peak`."""
  table = note_table(rate, voicing)
  length = table.shape[-1]
  release = np.exp(-np.arange(int(4 * RELEASE_S * rate)) / (RELEASE_S * rate))
  out = np.zeros(int((perf.seconds + 1.0) * rate), np.float32)
  layers = np.asarray(LAYER_VELOCITIES, np.float64)
  for on, end, pitch, vel in zip(perf.onsets, perf.sounding, perf.pitches,
                                 perf.velocities):
    key = int(np.clip(pitch, LOWEST_KEY, HIGHEST_KEY)) - LOWEST_KEY
    hi = int(np.clip(np.searchsorted(layers, vel), 1, len(layers) - 1))
    w = float(np.clip((vel - layers[hi - 1]) / (layers[hi] - layers[hi - 1]), 0, 1))
    start = int(on * rate)
    held = min(max(int((end - on) * rate), 1), length - len(release))
    n = min(held + len(release), length, len(out) - start)
    note = (1 - w) * table[key, hi - 1, :n] + w * table[key, hi, :n]
    tail = note[held:n]
    tail *= release[:len(tail)]
    out[start:start + n] += note
  top = np.abs(out).max()
  return out * (peak / top) if top > 0 else out
