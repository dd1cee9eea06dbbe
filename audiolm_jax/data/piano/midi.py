"""A minimal Standard MIDI File (format 0) writer for a `Performance`.

Only what FluidSynth needs: note on/off, the sustain pedal (CC 64) and an acoustic
grand piano program; 960 ticks per second (480 per quarter at 120 qpm).
"""

from __future__ import annotations

import struct

from audiolm_jax.data.piano.performance import Performance

TICKS_PER_QUARTER = 480
MICROSECONDS_PER_QUARTER = 500_000  # 120 qpm: 960 ticks per second
_TICKS_PER_SECOND = TICKS_PER_QUARTER * 1_000_000 / MICROSECONDS_PER_QUARTER


def _varlen(n: int) -> bytes:
  out = [n & 0x7F]
  n >>= 7
  while n:
    out.append(0x80 | (n & 0x7F))
    n >>= 7
  return bytes(reversed(out))


def performance_to_midi(perf: Performance) -> bytes:
  """The bytes of a .mid file that plays `perf` on channel 0, program 0 (piano)."""
  events = []  # (tick, order, message bytes); offs sort before ons at equal ticks
  tick = lambda s: int(round(s * _TICKS_PER_SECOND))
  for on, off, pitch, vel in zip(perf.onsets, perf.releases, perf.pitches,
                                 perf.velocities):
    events.append((tick(on), 2, bytes([0x90, int(pitch), int(vel)])))
    events.append((tick(off), 0, bytes([0x80, int(pitch), 0])))
  for up, down in zip(perf.pedal_up, perf.pedal_down):
    events.append((tick(up), 1, bytes([0xB0, 64, 0])))
    events.append((tick(down), 1, bytes([0xB0, 64, 127])))
  events.sort(key=lambda e: (e[0], e[1]))
  track = bytearray(b"\x00\xff\x51\x03" + MICROSECONDS_PER_QUARTER.to_bytes(3, "big"))
  track += b"\x00\xc0\x00"  # program change: acoustic grand piano
  track += b"\x00\xb0\x40\x7f"  # pedal down from the start
  last = 0
  for t, _, msg in events:
    track += _varlen(t - last) + msg
    last = t
  track += b"\x00\xff\x2f\x00"
  header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
  return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)
