"""Audio fingerprints, and which seconds of a split also occur in another.

For every validation and test file of a built dataset, how many of its seconds also
occur in the training split, exactly or nearly (the same audio requantized, at
another level, or cut at another sample offset), and the total. YouTubeMix needs
this: its source video repeats about 45 minutes of music roughly six times
(samplernn-pytorch issue #47), so its test files also occur among its training files.

The fingerprint is Haitsma and Kalker's (2002): frames of 2,048 samples every 128,
the energies of 33 log-spaced bands between 150 Hz and 4 kHz, and one bit per band
pair and frame, the sign of the energy difference of neighbouring bands minus the
previous frame's. Energy differences survive requantization, gain and small shifts,
so a copy keeps most bits while unrelated audio agrees on half of them. Each second
of a query file (125 frames) looks up its frames' 32-bit values in an index of the
training split, votes for an alignment, and counts as found when the best alignment
disagrees on fewer than `max_bit_error` of the query's reliable bits (those whose
energy difference exceeds 0.1 in log units: an 8-bit requantized copy at -6 dB then
differs in about 10 % of them, unrelated audio in about 50 %). Lookups use each value's two
16-bit halves, so a copy with a fifth of its bits flipped still finds itself. Near-silent frames carry no
fingerprint (silence would match silence anywhere).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from audiolm_jax.data import audio_io, datasets, recipes

FRAME = 2048
HOP = 128
BANDS = 33
LOW_HZ, HIGH_HZ = 150.0, 4000.0
FRAMES_PER_SECOND = audio_io.SAMPLE_RATE // HOP   # 125
MIN_RMS = 10 ** (-55 / 20)   # frames quieter than -55 dBFS carry no fingerprint
MAX_COMMON = 2000            # an index value this frequent is not evidence
STRONG = 0.1                 # |log-energy difference| above which a bit is reliable


def _band_matrix() -> np.ndarray:
  """float32 [FRAME / 2 + 1, BANDS]: which FFT bins sum into each band."""
  freqs = np.fft.rfftfreq(FRAME, 1 / audio_io.SAMPLE_RATE)
  edges = np.geomspace(LOW_HZ, HIGH_HZ, BANDS + 1)
  m = np.zeros((len(freqs), BANDS), np.float32)
  for b in range(BANDS):
    m[(freqs >= edges[b]) & (freqs < edges[b + 1]), b] = 1.0
  return m


_BANDS = _band_matrix()
_WINDOW = np.hanning(FRAME).astype(np.float32)
_WEIGHTS = (1 << np.arange(BANDS - 1, dtype=np.uint64)).astype(np.uint64)


def fingerprints(audio: np.ndarray, block: int = 4096
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(values uint32 [F], strong uint32 [F], valid bool [F]) of float audio [T]: one
  32-bit value per frame (frame f starts at sample f * HOP), the mask of its reliable
  bits (those whose energy difference is not near zero: noise flips the others), and
  False for near-silent frames."""
  audio = np.asarray(audio, np.float32)
  n = max(0, (len(audio) - FRAME) // HOP + 1)
  if n < 2:
    return np.zeros(0, np.uint32), np.zeros(0, np.uint32), np.zeros(0, bool)
  energies, rms = [], []
  for s in range(0, n, block):  # bounded memory on long files
    idx = (np.arange(s, min(s + block, n))[:, None] * HOP + np.arange(FRAME)[None])
    frames = audio[idx]
    rms.append(np.sqrt(np.mean(frames ** 2, axis=1)))
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    energies.append(power.astype(np.float32) @ _BANDS)
  e = np.log(np.concatenate(energies) + 1e-12)
  d = e[:, :-1] - e[:, 1:]                      # neighbouring bands, [F, 32]
  dd = np.zeros_like(d)
  dd[1:] = d[1:] - d[:-1]                       # ... minus the previous frame's
  values = ((dd > 0).astype(np.uint64) * _WEIGHTS).sum(axis=1).astype(np.uint32)
  strong = ((np.abs(dd) > STRONG).astype(np.uint64) * _WEIGHTS).sum(
      axis=1).astype(np.uint32)
  loud = np.concatenate(rms) >= MIN_RMS
  valid = loud & np.concatenate([[False], loud[:-1]])  # both frames of the difference
  return values, strong, valid


def _keys(values: np.ndarray) -> np.ndarray:
  """uint32 [2, F]: each value's two 16-bit halves, tagged by half, as lookup keys.
  A copy keeps a half intact far more often than all 32 bits (at a bit error rate of
  0.17, 5 % against 0.3 % of frames), so a second of it still casts several votes."""
  v = values.astype(np.uint32)
  return np.stack([v & 0xFFFF, (v >> 16) | 0x10000])


def _popcount(x: np.ndarray) -> np.ndarray:
  x = x.astype(np.uint32)
  return np.unpackbits(x.view(np.uint8).reshape(-1, 4), axis=1).sum(axis=1)


@dataclasses.dataclass
class Index:
  """Both 16-bit keys of every valid training frame, sorted, with its file and
  frame."""

  values: np.ndarray    # uint32 [N] keys (`_keys`), sorted
  files: np.ndarray     # int32 [N]
  frames: np.ndarray    # int64 [N]
  prints: list          # per training file: (values, valid)
  names: list

  @classmethod
  def build(cls, names: list[str], audios) -> "Index":
    prints, vals, files, frames = [], [], [], []
    for i, audio in enumerate(audios):
      v, _, ok = fingerprints(audio)
      prints.append((v, ok))
      where = np.flatnonzero(ok)
      vals.append(_keys(v[where]).ravel())
      files.append(np.full(2 * len(where), i, np.int32))
      frames.append(np.tile(where, 2))
    values = np.concatenate(vals) if vals else np.zeros(0, np.uint32)
    order = np.argsort(values, kind="stable")
    return cls(values[order], np.concatenate(files)[order] if vals else values,
               np.concatenate(frames)[order] if vals else values, prints, list(names))

  def match(self, values: np.ndarray, strong: np.ndarray, valid: np.ndarray,
            max_bit_error: float, candidates: int = 3
            ) -> tuple[int, int, float] | None:
    """(training file, its first frame, bit error rate over the query's reliable
    bits) of the best alignment of a query block [Q], or None when none is within
    `max_bit_error`."""
    frames = np.flatnonzero(valid)
    q = np.tile(frames, 2)
    keys = _keys(values[frames]).ravel()
    lo = np.searchsorted(self.values, keys, "left")
    hi = np.searchsorted(self.values, keys, "right")
    keep = (hi > lo) & (hi - lo <= MAX_COMMON)
    q, lo, count = q[keep], lo[keep], (hi - lo)[keep]
    if not len(q):
      return None
    # Every (query frame, index entry) pair with an equal key votes for the
    # alignment (training file, training frame - query frame).
    rows = np.repeat(np.arange(len(q)), count)
    entry = lo[rows] + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count,
                                                          count)
    shift = self.frames[entry] - q[rows]
    keys = np.stack([self.files[entry].astype(np.int64), shift], axis=1)
    uniq, votes = np.unique(keys, axis=0, return_counts=True)
    top = uniq[np.argsort(-votes, kind="stable")[:candidates]]
    best = None
    for f, start in top.tolist():
      tv, tok = self.prints[f]
      q = np.arange(len(values))
      t = q + start
      inside = (t >= 0) & (t < len(tv))
      both = np.zeros(len(values), bool)
      both[inside] = valid[inside] & tok[t[inside]]
      if both.sum() < len(values) // 2:
        continue
      bits = _popcount(strong[both]).sum()
      if not bits:
        continue
      ber = float(_popcount((values[both] ^ tv[t[both]]) & strong[both]).sum() / bits)
      if ber <= max_bit_error and (best is None or ber < best[2]):
        best = (f, start, ber)
    return best


def file_overlap(index: Index, audio: np.ndarray, max_bit_error: float) -> dict:
  """Seconds of one file found in the training split, second by second."""
  values, strong, valid = fingerprints(audio)
  seconds = len(audio) / audio_io.SAMPLE_RATE
  found, sources, bers = 0, {}, []
  for s in range(0, len(values) - FRAMES_PER_SECOND + 1, FRAMES_PER_SECOND):
    block = slice(s, s + FRAMES_PER_SECOND)
    if valid[block].sum() < FRAMES_PER_SECOND // 2:
      continue  # mostly silence: no evidence either way
    hit = index.match(values[block], strong[block], valid[block], max_bit_error)
    if hit is not None:
      found += 1
      name = index.names[hit[0]]
      sources[name] = sources.get(name, 0) + 1
      bers.append(hit[2])
  return {"seconds": seconds, "overlap_seconds": found,
          "sources": dict(sorted(sources.items(), key=lambda kv: -kv[1])),
          "median_bit_error": float(np.median(bers)) if bers else None}


def _split_audio(dataset_dir: str, split: str):
  source = datasets.open_split(dataset_dir, split)
  for i in range(len(source)):
    record = source[i]
    name = record["name"]
    yield (name.decode() if isinstance(name, bytes) else str(name),
           recipes.from_pcm16(record["audio"]))


def report(dataset_dir: str, splits=("validation", "test"),
           max_bit_error: float = 0.2) -> dict:
  """Per file of `splits`: seconds, seconds also in the training split, where."""
  names, audios = zip(*_split_audio(dataset_dir, "train"))
  index = Index.build(list(names), audios)
  del audios
  out = {"dataset": dataset_dir, "max_bit_error": max_bit_error, "splits": {}}
  for split in splits:
    files = {name: file_overlap(index, audio, max_bit_error)
             for name, audio in _split_audio(dataset_dir, split)}
    total = sum(f["seconds"] for f in files.values())
    found = sum(f["overlap_seconds"] for f in files.values())
    out["splits"][split] = {"files": files, "seconds": total, "overlap_seconds": found,
                            "overlap_fraction": found / total if total else 0.0}
  return out
