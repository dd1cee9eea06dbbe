"""Scores -> humanized performance -> MIDI / audio."""

import struct

import numpy as np
import pytest

from audiolm_jax.data.piano import fluidsynth, midi, scores, synth as piano_synth
from audiolm_jax.data.piano.performance import MAX_PEDAL_HOLD_S, humanize


def _piece(n=40, seed=0):
  rng = np.random.default_rng(seed)
  onsets = np.sort(rng.uniform(0, 10, n))
  return scores.Piece(name="x", work="x", onsets=onsets,
                      durations=rng.uniform(0.1, 1.0, n),
                      pitches=rng.integers(40, 90, n).astype(np.int16),
                      parts=rng.integers(0, 3, n).astype(np.int16))


def test_humanize_is_seeded_and_plausible():
  piece = _piece()
  a, b, c = humanize(piece, 1), humanize(piece, 1), humanize(piece, 2)
  np.testing.assert_array_equal(a.onsets, b.onsets)
  assert not np.allclose(a.onsets, c.onsets)
  assert np.all(a.releases > a.onsets) and np.all(a.sounding >= a.releases)
  assert np.all(a.sounding <= a.releases + MAX_PEDAL_HOLD_S + 1e-9)
  assert 1 <= a.velocities.min() and a.velocities.max() <= 127
  tempo = (piece.onsets[-1] - piece.onsets[0]) / (a.onsets[-1] - a.onsets[0])
  assert 0.85 < tempo < 1.15


def test_pedal_holds_a_released_note_until_the_next_lift():
  damped = held = 0
  for seed in range(6):  # one piece releases few notes with the pedal up
    p = humanize(_piece(seed=seed), seed)
    for rel, snd in zip(p.releases, p.sounding):
      lifts = p.pedal_up[p.pedal_up >= rel]
      in_gap = np.any((p.pedal_up <= rel) & (rel < p.pedal_down))
      if in_gap:
        assert snd == rel  # pedal up: the damper stops the note at once
        damped += 1
      elif len(lifts):
        assert snd == pytest.approx(min(lifts[0], rel + MAX_PEDAL_HOLD_S))
        held += 1
  # The pieces exercise both cases, so neither assertion is skipped.
  assert damped >= 3 and held >= 3, (damped, held)


def test_midi_file_is_well_formed():
  perf = humanize(_piece(), 0)
  data = midi.performance_to_midi(perf)
  assert data[:4] == b"MThd" and data[14:18] == b"MTrk"
  (length,) = struct.unpack(">I", data[18:22])
  assert len(data) == 22 + length and data.endswith(b"\xff\x2f\x00")
  assert data.count(b"\xb0\x40\x7f") == len(perf.pedal_down) + 1


def test_numpy_piano_renders_the_notes():
  perf = humanize(_piece(), 0)
  audio = piano_synth.render(perf)
  assert audio.dtype == np.float32 and np.abs(audio).max() == pytest.approx(0.9)
  assert len(audio) >= perf.seconds * 16_000
  # Loud where notes start, quiet long after the last one is damped.
  first = int(perf.onsets.min() * 16_000)
  assert np.abs(audio[:first]).max() < 1e-6
  assert np.abs(audio[first:first + 4000]).max() > 0.05


def test_numpy_piano_pitch_is_right():
  table = piano_synth.note_table()
  a4 = table[69 - piano_synth.LOWEST_KEY, 1, :16_000]
  spectrum = np.abs(np.fft.rfft(a4 * np.hanning(len(a4))))
  assert abs(np.argmax(spectrum) - 440) <= 2  # 1 Hz bins


@pytest.mark.skipif(not fluidsynth.available(), reason="fluidsynth missing: the SoundFont rendering is not checked")
def test_fluidsynth_renders_mono_16k():
  perf = humanize(_piece(), 0)
  audio = fluidsynth.render(perf)
  assert audio.ndim == 1 and audio.dtype == np.float32
  assert abs(len(audio) / 16_000 - perf.seconds) < 3
  assert np.abs(audio).max() == pytest.approx(0.9, rel=1e-4)
