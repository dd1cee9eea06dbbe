"""Scores from music21's bundled corpus, turned into timed note events.

The corpus ships with the `music21` package (BSD; the compositions are in the public
domain, the encodings are distributed by permission), so the built-in dataset needs no
download. We read notes straight from the parsed score instead of going through
music21's MIDI writer (which expands repeats and sometimes raises on them): repeats
are played once, ties are merged, grace notes are dropped, every part goes to the
piano. A piece without a tempo mark plays at 120 quarter notes per minute.

Parsing is slow for a few scores, so `load_pieces` converts in a process pool with a
per-file timeout and reports every file it skipped, and why.
"""

from __future__ import annotations

import bisect
import concurrent.futures
import dataclasses
import hashlib
import multiprocessing
import os
import signal

import numpy as np

DEFAULT_QPM = 120.0
SCORE_EXTENSIONS = (".mxl", ".xml", ".musicxml", ".krn")

# Solo keyboard pieces of the corpus, and the split each one is pinned to.
KEYBOARD_PIECES = {
    "joplin/maple_leaf_rag.mxl": "train",
    "cpebach/h186.mxl": "train",
    "mozart/k545/movement1_exposition.mxl": "train",
    "schoenberg/opus19/movement2.mxl": "train",
    "beach/prayer_of_a_tired_child.musicxml": "train",
    "schumann_clara/polonaise_op1n1.mxl": "train",
    "schumann_clara/polonaise_op1n4.mxl": "train",
    "schumann_clara/polonaise_op1n2.mxl": "validation",
    "schoenberg/opus19/movement6.mxl": "validation",
    "chopin/mazurka06-2.krn": "test",
    "schumann_clara/polonaise_op1n3.mxl": "test",
}
# Chorales go to a split by a hash of their work (BWV number), so that two
# harmonizations from one cantata never land in different splits. The per-mille
# thresholds were chosen so that, with the keyboard pieces above, the full set splits
# 89.7 / 4.2 / 6.1 % by duration.
CHORALE_SPLIT_PERMILLE = {"train": 916, "validation": 40, "test": 44}


@dataclasses.dataclass(frozen=True)
class Piece:
  """One score as note events; times in seconds, pitches as MIDI numbers."""

  name: str                 # corpus-relative path, e.g. "bach/bwv1.6.mxl"
  work: str                 # what a split keeps together, e.g. "bach/bwv1"
  onsets: np.ndarray        # float64[n]
  durations: np.ndarray     # float64[n]
  pitches: np.ndarray       # int16[n]
  parts: np.ndarray         # int16[n], 0 = the top part

  @property
  def seconds(self) -> float:
    return float(np.max(self.onsets + self.durations)) if len(self.onsets) else 0.0


def corpus_root() -> str:
  from music21 import common  # pylint: disable=g-import-not-at-top
  return str(common.getCorpusFilePath())


def work_of(name: str) -> str:
  """The unit of splitting: a chorale's BWV number, else the piece itself."""
  if name.startswith("bach/"):
    stem = name.split("/", 1)[1].rsplit(".", 1)[0]  # bwv1.6 / bwv277
    return "bach/" + stem.split(".")[0]
  return name


def split_of(name: str) -> str:
  """train / validation / test, pinned: a fixed table or a hash of the work."""
  if name in KEYBOARD_PIECES:
    return KEYBOARD_PIECES[name]
  bucket = int(hashlib.sha256(work_of(name).encode()).hexdigest(), 16) % 1000
  train, val = CHORALE_SPLIT_PERMILLE["train"], CHORALE_SPLIT_PERMILLE["validation"]
  return "train" if bucket < train else "validation" if bucket < train + val else "test"


def list_corpus() -> list[str]:
  """Corpus-relative paths of the Bach chorales and the keyboard pieces, sorted."""
  root = corpus_root()
  bach = sorted(
      os.path.relpath(os.path.join(d, f), root)
      for d, _, files in os.walk(os.path.join(root, "bach"))
      for f in files if f.endswith(SCORE_EXTENSIONS))
  return bach + sorted(KEYBOARD_PIECES)


def _tempo_map(score):
  """(quarter offsets, seconds at those offsets, qpm from there on)."""
  from music21 import tempo  # pylint: disable=g-import-not-at-top
  marks = {}
  for mm in score.flatten().getElementsByClass(tempo.MetronomeMark):
    qpm = mm.getQuarterBPM()
    if qpm and qpm > 0:
      marks[float(mm.offset)] = float(qpm)
  if 0.0 not in marks:
    marks[0.0] = DEFAULT_QPM
  starts = sorted(marks)
  seconds = [0.0]
  for a, b in zip(starts, starts[1:]):
    seconds.append(seconds[-1] + (b - a) * 60.0 / marks[a])
  return starts, seconds, [marks[s] for s in starts]


def parse_piece(name: str) -> Piece:
  """Parses one corpus score into note events."""
  from music21 import corpus  # pylint: disable=g-import-not-at-top
  score = corpus.parse(name)
  starts, start_seconds, qpms = _tempo_map(score)

  def to_seconds(q: float) -> float:
    i = bisect.bisect_right(starts, q) - 1
    return start_seconds[i] + (q - starts[i]) * 60.0 / qpms[i]

  onsets, durations, pitches, parts = [], [], [], []
  for part_index, part in enumerate(score.parts):
    for note in part.stripTies().flatten().notes:
      if note.duration.isGrace or note.quarterLength <= 0:
        continue
      start = float(note.offset)
      begin, end = to_seconds(start), to_seconds(start + float(note.quarterLength))
      for pitch in note.pitches:
        onsets.append(begin)
        durations.append(end - begin)
        pitches.append(pitch.midi)
        parts.append(part_index)
  if not onsets:
    raise ValueError("the score has no notes")
  order = np.lexsort((pitches, onsets))
  return Piece(name=name, work=work_of(name),
               onsets=np.asarray(onsets)[order], durations=np.asarray(durations)[order],
               pitches=np.asarray(pitches, np.int16)[order],
               parts=np.asarray(parts, np.int16)[order])


class _Timeout(Exception):
  pass


def _alarm(signum, frame):
  raise _Timeout()


def _parse_with_timeout(name: str, timeout_s: float):
  # Runs in a worker process: SIGALRM interrupts a parse that takes too long.
  old = signal.signal(signal.SIGALRM, _alarm)
  signal.setitimer(signal.ITIMER_REAL, timeout_s)
  try:
    return name, parse_piece(name), None
  except _Timeout:
    return name, None, f"timed out after {timeout_s:.0f} s"
  except Exception as e:  # pylint: disable=broad-except
    return name, None, f"{type(e).__name__}: {e}"
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


def load_pieces(names: list[str], *, timeout_s: float = 60.0,
                workers: int | None = None) -> tuple[list[Piece], dict[str, str]]:
  """Parses scores in a process pool; returns (pieces in input order, skipped)."""
  workers = workers or min(len(names), os.cpu_count() or 1) or 1
  results = {}
  # forkserver, not fork: the caller (train.py, a notebook) may already run JAX's
  # threads, and forking a multithreaded process can deadlock the child.
  context = multiprocessing.get_context("forkserver")
  with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
    for name, piece, error in pool.map(_parse_with_timeout, names,
                                       [timeout_s] * len(names), chunksize=4):
      results[name] = (piece, error)
  pieces = [results[n][0] for n in names if results[n][0] is not None]
  skipped = {n: results[n][1] for n in names if results[n][0] is None}
  return pieces, skipped
