"""The Grain input pipeline: random training windows from a built dataset.

A split's audio is first turned into codes by the run's recipe (`data/recipes.py`)
and flattened, once, into one uint8 file next to the dataset (`flat/RECIPE/SPLIT.u8`:
all files back to back, plus their offsets), which every process and worker
memory-maps: reading a window then costs O(window), not O(file), whatever the file
lengths.

Example j of a run is a pure function of (seed, j): a file chosen with probability
proportional to its length, a uniformly random end in it, and the window of
`context + num_targets` codes before that end (silence code before the file's start).
Its last `num_targets` codes are the targets: `num_targets = 1` is the paper's
one-target-per-context ("sampled") example. With gain augmentation (`gain_db`) the
flat file holds the split's 16-bit audio instead (`flat/pcm16/`), and each window is
scaled by a seeded random gain, clipped and only then quantized by the recipe. Process p of P reads the p-th slice of
every global batch (`ShardIndex`): disjoint shards that assemble, row for row, into the
single-process stream.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid

import grain
from absl import flags
import numpy as np

from audiolm_jax.data import datasets, quantization, recipes

# Windows are indexed by an effectively endless range: a run stops by step count.
NUM_WINDOWS = 1 << 40


def _flat_paths(path: str, split: str, recipe: str, gain_db: float = 0.0
                ) -> tuple[str, str]:
  name = recipe if gain_db == 0 else f"{recipe}@{gain_db:+g}dB"
  folder = os.path.join(path, "flat", name)
  ext = "i16" if recipe == recipes.RAW else "u8"
  return os.path.join(folder, f"{split}.{ext}"), os.path.join(folder, f"{split}.json")


def flatten_split(path: str, split: str, recipe: str = "mu_law",
                  gain_db: float = 0.0) -> tuple[str, str]:
  """Writes the split's codes under `recipe` (after a fixed gain; `recipes.RAW`: its
  int16 audio) back to back (once; atomic); returns the two paths."""
  if recipe == recipes.RAW:
    if gain_db:
      raise ValueError("the raw audio is stored without gain")
  else:
    recipes.check(recipe)
  codes_path, index_path = _flat_paths(path, split, recipe, gain_db)
  if os.path.isfile(index_path) and os.path.isfile(codes_path):
    return codes_path, index_path
  source = datasets.open_split(path, split)
  os.makedirs(os.path.dirname(codes_path), exist_ok=True)
  tmp = f".tmp-{uuid.uuid4().hex}"
  names, lengths = [], []
  with open(codes_path + tmp, "wb") as f:
    for i in range(len(source)):
      record = source[i]
      pcm = np.asarray(record["audio"], np.int16)
      codes = pcm if recipe == recipes.RAW else recipes.codes(pcm, recipe, gain_db)
      f.write(codes.tobytes())
      name = record["name"]
      names.append(name.decode() if isinstance(name, bytes) else str(name))
      lengths.append(int(codes.size))
  with open(index_path + tmp, "w") as f:
    json.dump({"names": names, "lengths": lengths}, f)
  os.replace(codes_path + tmp, codes_path)  # codes first: the index marks completion
  os.replace(index_path + tmp, index_path)
  return codes_path, index_path


class FlatSplit:
  """Every file of a split, as `recipe`'s codes (after `gain_db`), in one memory-mapped
  uint8 array (`recipes.RAW`: its int16 audio); pickles as its paths."""

  def __init__(self, path: str, split: str, recipe: str = "mu_law",
               gain_db: float = 0.0):
    self.path, self.split, self.recipe, self.gain_db = path, split, recipe, gain_db
    self._codes_path, index_path = flatten_split(path, split, recipe, gain_db)
    with open(index_path) as f:
      index = json.load(f)
    self.names: list[str] = index["names"]
    self.lengths = np.asarray(index["lengths"], np.int64)
    self.starts = np.concatenate([[0], np.cumsum(self.lengths)])
    # once: windows are a hot path
    self.dtype = np.int16 if recipe == recipes.RAW else np.uint8
    self._silence = (0 if recipe == recipes.RAW
                     else quantization.silence_code(recipes.quantization_of(recipe)))
    self._codes = None

  def __getstate__(self):
    state = dict(self.__dict__)
    state["_codes"] = None  # re-opened lazily in each worker process
    return state

  @property
  def codes(self) -> np.ndarray:
    if self._codes is None:
      self._codes = np.memmap(self._codes_path, self.dtype, mode="r")
    return self._codes

  def file(self, i: int) -> np.ndarray:
    """The codes of file i (a view)."""
    return self.codes[self.starts[i]:self.starts[i + 1]]

  def window(self, i: int, end: int, length: int) -> np.ndarray:
    """[length]: file i's codes ending before `end`, silence-padded on the left."""
    begin = end - length
    out = np.full(length, self._silence, self.dtype)
    lo = max(begin, 0)
    out[lo - begin:] = self.codes[self.starts[i] + lo:self.starts[i] + end]
    return out


def _gained_codes(pcm: np.ndarray, recipe: str, rng: np.random.Generator,
                  gain_db: tuple[float, float]) -> np.ndarray:
  """uint8 codes of an int16 window after a gain drawn uniformly in dB."""
  return recipes.codes(pcm, recipe, float(rng.uniform(*gain_db)))


def _check_gain(flat: FlatSplit, recipe: str, gain_db) -> None:
  if not gain_db:
    return
  if flat.recipe != recipes.RAW:
    raise ValueError("gain augmentation reads the raw audio: give a "
                     f"FlatSplit(..., recipe={recipes.RAW!r})")
  if not recipes.gain_changes_codes(recipe):
    raise ValueError(f"the {recipe} recipe min-max scales each chunk: a gain "
                     f"changes nothing; train without gain_db")


@dataclasses.dataclass
class WindowSampler:
  """Maps an example index to {"codes": uint8[context + num_targets]} (see module).

  With `gain_db` = (lo, hi), `flat` holds raw audio and each window gets its own gain
  (drawn after the file and position, so those match the stream without gain).
  """

  flat: FlatSplit
  context: int
  num_targets: int
  seed: int
  gain_db: tuple[float, float] | None = None
  recipe: str = "mu_law"  # with gain_db: how the gained audio becomes codes

  def __post_init__(self):
    _check_gain(self.flat, self.recipe, self.gain_db)
    eligible = self.flat.lengths >= self.num_targets
    if not eligible.any():
      raise ValueError(
          f"no file of {self.flat.path} [{self.flat.split}] holds num_targets="
          f"{self.num_targets} samples (longest: {self.flat.lengths.max(initial=0)}); "
          f"lower num_targets")
    self._files = np.flatnonzero(eligible)
    self._cum = np.cumsum(self.flat.lengths[self._files])

  def __call__(self, index: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self.seed, int(index)])
    # A uniform position over all eligible samples picks a file in proportion to
    # its length; then a uniform end with all targets inside the file.
    k = int(np.searchsorted(self._cum, rng.integers(self._cum[-1]), side="right"))
    f = int(self._files[k])
    end = int(rng.integers(self.num_targets, self.flat.lengths[f] + 1))
    window = self.flat.window(f, end, self.context + self.num_targets)
    if self.gain_db:
      window = _gained_codes(window, self.recipe, rng, self.gain_db)
    return {"codes": window}


@dataclasses.dataclass
class StreamSampler:
  """Consecutive segments of files for truncated backprop through time.

  Global example j = step s, row b (j = s * rows + b). Row b is a stream: it plays
  seeded, length-weighted files one after another, each cut into consecutive
  `num_targets`-sample segments from its start (the remainder dropped, as s4 drops
  it); step s is the stream's s-th segment. The window holds the `context` codes
  before the segment (silence before the file) and the segment; `reset` marks a
  file's first segment, where the model's carried state restarts. A pure function
  of (seed, rows, j), like `WindowSampler`, so resumes and process counts change
  nothing. With `gain_db`, each file of a stream gets one seeded gain (a window-level
  gain would jump inside the audio the carried state continues).
  """

  flat: FlatSplit
  context: int
  num_targets: int
  seed: int
  rows: int  # the global batch
  gain_db: tuple[float, float] | None = None
  recipe: str = "mu_law"

  def __post_init__(self):
    _check_gain(self.flat, self.recipe, self.gain_db)
    self._segments = self.flat.lengths // self.num_targets
    eligible = self._segments > 0
    if not eligible.any():
      raise ValueError(
          f"no file of {self.flat.path} [{self.flat.split}] holds one segment of "
          f"num_targets={self.num_targets} samples; lower num_targets")
    self._files = np.flatnonzero(eligible)
    self._p = self.flat.lengths[self._files] / self.flat.lengths[self._files].sum()
    self._streams: dict[int, tuple[list[int], list[int]]] = {}

  def _locate(self, row: int, step: int) -> tuple[int, int, int]:
    """(file, segment index in it, the file's place in the stream) of a stream's
    step (files drawn on demand)."""
    files, ends = self._streams.setdefault(row, ([], []))
    while not ends or ends[-1] <= step:
      rng = np.random.default_rng([self.seed, row, len(files)])
      f = int(self._files[rng.choice(len(self._files), p=self._p)])
      files.append(f)
      ends.append((ends[-1] if ends else 0) + int(self._segments[f]))
    k = int(np.searchsorted(ends, step, side="right"))
    return files[k], step - (ends[k - 1] if k else 0), k

  def __call__(self, index: int) -> dict[str, np.ndarray]:
    step, row = divmod(int(index), self.rows)
    f, q, k = self._locate(row, step)
    end = (q + 1) * self.num_targets
    window = self.flat.window(f, end, self.context + self.num_targets)
    if self.gain_db:
      rng = np.random.default_rng([self.seed, row, k, 1])
      window = _gained_codes(window, self.recipe, rng, self.gain_db)
    return {"codes": window, "reset": np.bool_(q == 0)}


@dataclasses.dataclass(frozen=True)
class ShardIndex:
  """Local example i of process p -> its global example index.

  Global batch g is examples [g*B, (g+1)*B) in order, B = batch * process_count; process
  p holds the p-th contiguous slice of it. Assembled from the processes, a global batch
  is row for row the batch a single process would read, whatever the process count.
  """

  process_index: int
  process_count: int
  batch_size: int  # per process
  start: int = 0

  def __call__(self, i: int) -> int:
    g, m = divmod(int(i), self.batch_size)
    return (self.start + g * self.batch_size * self.process_count
            + self.process_index * self.batch_size + m)


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """What `train_dataset` needs; the batch is this process's share."""

  path: str               # a built dataset directory (datasets.build returns it)
  split: str = "train"
  recipe: str = "mu_law"   # how its audio becomes codes (data/recipes.py)
  context: int = 128_000
  num_targets: int = 1024  # 1 for the paper's sampled objective
  batch_size: int = 8      # per process
  seed: int = 0
  worker_count: int = 0    # Grain worker processes (0: in this process)
  prefetch: int = 4        # batches kept ready per worker / thread
  stream: bool = False     # consecutive segments per row (TBPTT), see StreamSampler
  gain_db: tuple[float, float] | None = None  # random gain per window (dB); None: off


def train_dataset(cfg: PipelineConfig, *, process_index: int = 0,
                  process_count: int = 1, start_example: int = 0) -> grain.IterDataset:
  """Batches {"codes": uint8[batch, context + num_targets]} of this process's shard.

  `start_example` skips the first examples of the global stream: a run resumed on
  another number of processes continues exactly where the global stream stopped.
  """
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index={process_index} must lie in "
                     f"[0, {process_count})")
  gain = tuple(cfg.gain_db) if cfg.gain_db else None
  flat = FlatSplit(cfg.path, cfg.split, recipes.RAW if gain else cfg.recipe)
  if cfg.stream:
    sampler = StreamSampler(flat, cfg.context, cfg.num_targets, cfg.seed,
                            rows=cfg.batch_size * process_count, gain_db=gain,
                            recipe=cfg.recipe)
  else:
    sampler = WindowSampler(flat, cfg.context, cfg.num_targets, cfg.seed,
                            gain_db=gain, recipe=cfg.recipe)
  index = ShardIndex(process_index, process_count, cfg.batch_size, start_example)
  ds = grain.MapDataset.range(NUM_WINDOWS // process_count).map(index).map(sampler)
  ds = ds.batch(cfg.batch_size, drop_remainder=True)
  it = ds.to_iter_dataset(grain.ReadOptions(num_threads=1,
                                            prefetch_buffer_size=cfg.prefetch))
  if cfg.worker_count > 0:
    # Grain's multiprocessing reads absl flags; outside absl.app.run they are unparsed.
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()
    it = it.mp_prefetch(grain.MultiprocessingOptions(
        num_workers=cfg.worker_count, per_worker_buffer_size=cfg.prefetch))
    it = it.map(_in_process_memory)
  return it


def _in_process_memory(batch: dict) -> dict:
  """The batch copied out of the shared memory a Grain worker handed it over in.

  Shared memory is freed only when its last user lets go, and JAX's array of a run's
  last batch outlives the run, so batches are copied out: no segment outlives the
  run (Python's resource tracker would report it leaked at exit). The copy is a few
  kilobytes per step (MBs at the paper's size).
  """
  return {k: np.array(v) for k, v in batch.items()}
