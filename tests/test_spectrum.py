"""The continuation measures: spectral flatness, level and band envelope."""

import numpy as np
import pytest

from audiolm_jax.generation import spectrum

RATE = 16_000


def test_spectral_flatness_tells_a_tone_from_noise(np_rng):
  t = np.arange(16_000) / 16_000
  tone = 0.5 * np.sin(2 * np.pi * 440 * t)
  noise = np_rng.normal(0, 0.1, 16_000)
  assert np.median(spectrum.frame_flatness(tone)) < 1e-3
  assert np.median(spectrum.frame_flatness(noise)) == pytest.approx(0.56, abs=0.04)
  assert spectrum.level_dbfs(tone) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)),
                                                     abs=0.01)
  assert spectrum.frame_flatness(tone).shape == (15,)  # 1024-sample frames
  with pytest.raises(ValueError, match="no 64 ms frame"):
    spectrum.frame_flatness(tone[:100])


def test_a_constant_reads_as_silence_not_as_a_tone(np_rng):
  # A continuation stuck on one code is a DC offset: inaudible, so it must fail the
  # flatness and level comparison, and a DC offset must not change a tone's numbers.
  t = np.arange(16_000) / 16_000
  tone = 0.3 * np.sin(2 * np.pi * 523.25 * t) + 0.01 * np_rng.normal(size=t.size)
  stuck = np.full(16_000, 0.062)
  assert np.all(spectrum.frame_flatness(stuck) == pytest.approx(1.0))
  assert spectrum.level_dbfs(stuck) == float("-inf")
  np.testing.assert_allclose(spectrum.frame_flatness(tone + 0.2),
                             spectrum.frame_flatness(tone), rtol=1e-6)
  assert spectrum.level_dbfs(tone + 0.2) == pytest.approx(spectrum.level_dbfs(tone),
                                                          abs=0.01)
  # Half tone, half stuck: the stuck half is silence in both measures.
  half = np.concatenate([tone[:8_192], stuck[:8_192]])
  assert spectrum.level_dbfs(half) == pytest.approx(
      spectrum.level_dbfs(tone[:8_192]) - 10 * np.log10(2), abs=0.05)
  flat = spectrum.frame_flatness(half)
  assert np.all(flat[:8] < 1e-2) and np.all(flat[8:] == pytest.approx(1.0))
  # Shorter than a frame: one frame, its mean removed.
  assert spectrum.level_dbfs(tone[:100] + 0.5) == pytest.approx(
      spectrum.level_dbfs(tone[:100]), abs=0.01)


def _music(rng, amp, chords=8, chord_samples=4_000):
  """Float audio: `chords` random three-note chords of a decaying harmonic timbre
  (partial k at 1/k^2, higher ones dying faster) within two octaves around 220 Hz."""
  t = np.arange(chord_samples) / RATE
  out = []
  for _ in range(chords):
    f0s = 220 * 2.0 ** (rng.integers(-12, 12, 3) / 12)
    out.append(amp * sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
                         / k ** 2 * np.exp(-3 * k * t)
                         for f0 in f0s for k in range(1, 12) if k * f0 < 7_000))
  return np.concatenate(out)


def test_band_levels_are_energy_shares_on_third_octave_bands(np_rng):
  noise = np_rng.normal(0, 0.1, 10 * RATE)
  levels = spectrum.band_levels_db(noise)
  assert levels.shape == (21,)
  assert np.sum(10 ** (levels / 10)) == pytest.approx(1.0, rel=1e-9)  # shares
  # White noise has equal power per Hz and each band is 2^(1/3) times wider than the
  # one below: +1.0 dB a band (fitted where bands hold many bins).
  slope = np.polyfit(np.arange(9, 21), levels[9:], 1)[0]
  assert slope == pytest.approx(10 * np.log10(2 ** (1 / 3)), abs=0.05)
  # A 1.2 kHz tone lies in the band from 1 kHz to 1.26 kHz (the 13th).
  tone = 0.2 * np.sin(2 * np.pi * 1_200 * np.arange(RATE) / RATE)
  tone_levels = spectrum.band_levels_db(tone)
  assert np.argmax(tone_levels) == 12 and tone_levels[12] > -0.1
  assert tone_levels.min() == -60.0  # far bands floored, not -100s of dB
  with pytest.raises(ValueError, match="no 64 ms frame"):
    spectrum.band_levels_db(tone[:1_000])


def test_band_distance_ignores_level_and_tells_music_from_a_buzz_or_noise(np_rng):
  music = _music(np_rng, 0.1)
  assert spectrum.band_distance_db(music, music) == 0.0
  # The same envelope 26 dB quieter (and with a DC offset) is the same envelope.
  assert spectrum.band_distance_db(music, 0.05 * music + 0.1) < 1e-6
  # Other chords of the same timbre stay near; a 25-45 Hz sawtooth (a buzz like the
  # one greedy or nucleus sampling falls into: tonal by flatness, as its power falls
  # 6 dB an octave from its low fundamental) and white noise lie far off.
  other = _music(np_rng, 0.01)
  buzz = 0.2 * np.mod(np.arange(2 * RATE) * np_rng.uniform(25, 45) / RATE, 1.0)
  near = spectrum.band_distance_db(music, other)
  # Over 100 seeds: near 2.8 dB median (8.6 max); the buzz 10.6+ and at least 3.9
  # further than the other chords; noise 18.5+.
  assert near < 9.0
  assert spectrum.band_distance_db(music, buzz) > max(10.0, near + 3.0)
  assert spectrum.band_distance_db(music, np_rng.normal(0, 0.1, 2 * RATE)) > 15.0
  assert spectrum.band_distance_db(music, np.full(2 * RATE, 0.3)) == float("inf")
  assert spectrum.band_distance_db(music, other) == pytest.approx(
      spectrum.band_distance_db(other, music))
