"""A seeded humanization that turns typeset note events into a played performance.

Per piece: a tempo factor in [0.9, 1.1] and a base loudness. Per note: onset jitter
(sd 8 ms), velocity jitter (sd 6) on top of a slow phrase swell, the top part a little
louder. Sustain pedal: legato pedalling re-pressed 60 ms after every new note of the
bottom part (a harmony change); a key released while the pedal is down sounds until
the next lift, at most 2 s longer.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from audiolm_jax.data.piano.scores import Piece

PEDAL_LAG_S = 0.06
MAX_PEDAL_HOLD_S = 2.0


@dataclasses.dataclass(frozen=True)
class Performance:
  """Note events as played; every time in seconds from the start."""

  onsets: np.ndarray      # float64[n]
  releases: np.ndarray    # float64[n]: key up
  sounding: np.ndarray    # float64[n]: when the string is damped (pedal included)
  pitches: np.ndarray     # int16[n]
  velocities: np.ndarray  # int16[n] in [1, 127]
  pedal_up: np.ndarray    # float64[m]: pedal lifted ...
  pedal_down: np.ndarray  # float64[m]: ... and pressed again

  @property
  def seconds(self) -> float:
    return float(self.sounding.max()) if len(self.sounding) else 0.0


def humanize(piece: Piece, seed: int) -> Performance:
  rng = np.random.default_rng(seed)
  tempo = rng.uniform(0.9, 1.1)
  onsets = piece.onsets / tempo + rng.normal(0, 0.008, len(piece.onsets))
  onsets = np.maximum(onsets - onsets.min(), 0.0) + 0.25  # a breath of silence first
  releases = onsets + np.maximum(piece.durations / tempo * rng.uniform(0.85, 0.98),
                                 0.05)
  phrase = 8.0 * np.sin(2 * np.pi * onsets / rng.uniform(6.0, 12.0)
                        + rng.uniform(0, 2 * np.pi))
  velocity = (rng.uniform(55, 80) + phrase + rng.normal(0, 6, len(onsets))
              + 8.0 * (piece.parts == 0))
  velocities = np.clip(np.round(velocity), 20, 120).astype(np.int16)

  bass = np.unique(np.round(onsets[piece.parts == piece.parts.max()], 3))
  pedal_up = bass[bass > 0.3]
  pedal_down = pedal_up + PEDAL_LAG_S
  # A note sounds until the first pedal lift after its release (if the pedal is down).
  nxt = np.searchsorted(pedal_up, releases)
  if len(pedal_up):
    lift = np.where(nxt < len(pedal_up), pedal_up[np.minimum(nxt, len(pedal_up) - 1)],
                    releases + MAX_PEDAL_HOLD_S)  # no lift after: held to the end
  else:
    lift = releases + MAX_PEDAL_HOLD_S
  prev = np.maximum(nxt - 1, 0)
  pedal_is_down = (nxt == 0) | (releases >= pedal_down[prev] if len(pedal_up)
                                else True)
  sounding = np.where(pedal_is_down, np.minimum(np.maximum(lift, releases),
                                                releases + MAX_PEDAL_HOLD_S), releases)
  return Performance(onsets=onsets, releases=releases, sounding=sounding,
                     pitches=piece.pitches.copy(), velocities=velocities,
                     pedal_up=pedal_up, pedal_down=pedal_down)
