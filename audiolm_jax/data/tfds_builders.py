"""TFDS builders: the built-in piano set, YouTubeMix, and any folder of audio files.

Each writes ArrayRecord files with one record per audio file:
  audio   int16[T]  the 16 kHz mono audio as 16-bit PCM (codes are made from it by
                    a recipe in the pipeline: `data/recipes.py`)
  name    text      the source file (or score) it came from
  seconds float32   its duration
and works without TensorFlow (features are `tfds.features.Tensor`/`Text`/`Scalar`).
Whatever a build skips is counted, named with its reason in the dataset's metadata,
and logged; `strict=True` turns any skip into an error.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import logging
import os
import re

import numpy as np
import tensorflow_datasets as tfds

from audiolm_jax.data import audio_io, recipes
from audiolm_jax.data.piano import fluidsynth, scores, synth as piano_synth, timbres
from audiolm_jax.data.piano.performance import humanize

SPLITS = ("train", "validation", "test")
# Multi-timbre piano sets only: the test pieces rendered with the training timbres.
SEEN_TIMBRES_SPLIT = "test_seen_timbres"
# 2.0.0: raw 16-bit PCM instead of mu-law codes (1.0.0); codes come from a recipe.
VERSION = tfds.core.Version("2.0.0")
RELEASE_NOTES = {"2.0.0": "16-bit PCM audio instead of 8-bit mu-law codes",
                 "1.0.0": "8-bit mu-law codes"}
STORAGE = "pcm16"


class BuildError(RuntimeError):
  """A dataset that cannot be built as asked; says what to change."""


def features() -> tfds.features.FeaturesDict:
  """What every record holds (the builders' format; test fixtures reuse it)."""
  return tfds.features.FeaturesDict({
      # Raw bytes (2 per sample): a plain int16 tensor is stored as varint int64s
      # (up to 10 bytes each), and a full build then overflows TFDS's in-memory
      # shuffle buffer into its disk path, which needs TensorFlow.
      "audio": tfds.features.Tensor(shape=(None,), dtype=np.int16,
                                    encoding=tfds.features.Encoding.BYTES),
      "name": tfds.features.Text(),
      "seconds": tfds.features.Scalar(dtype=np.float32),
  })


def _example(name: str, audio: np.ndarray) -> dict:
  return {"audio": recipes.to_pcm16(audio), "name": name,
          "seconds": np.float32(len(audio) / audio_io.SAMPLE_RATE)}


def _report_skips(builder, skipped: dict[str, str], strict: bool) -> None:
  builder.info.metadata["skipped"] = dict(skipped)
  if not skipped:
    return
  lines = "\n".join(f"  {k}: {v}" for k, v in sorted(skipped.items()))
  if strict:
    raise BuildError(f"{len(skipped)} input(s) could not be used (strict mode):\n"
                     f"{lines}")
  logging.warning("skipped %d input(s):\n%s", len(skipped), lines)
  print(f"WARNING: skipped {len(skipped)} input(s):\n{lines}")


def _load_files(paths: list[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
  """Reads audio files in threads (soundfile and scipy release the GIL)."""
  audio, skipped = {}, {}
  with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
    futures = {pool.submit(audio_io.load_audio, p): p for p in paths}
    for fut in concurrent.futures.as_completed(futures):
      try:
        audio[futures[fut]] = fut.result()
      except audio_io.AudioFileError as e:
        skipped[futures[fut]] = e.reason
  return audio, skipped


class _AudioBuilder(tfds.core.GeneratorBasedBuilder):
  """What the three builders share: features, metadata, `strict`, examples."""

  def __init__(self, *, strict: bool = False, **kwargs):
    self._strict = strict
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self, description=self.__doc__, features=features(),
        metadata=tfds.core.MetadataDict(storage=STORAGE,
                                        sample_rate=audio_io.SAMPLE_RATE))

  def _generate_examples(self, files):
    """files: (name, float audio) pairs."""
    for name, audio in files:
      yield name, _example(name, audio)


# ---- The built-in piano set --------------------------------------------------------


@dataclasses.dataclass
class PianoConfig(tfds.core.BuilderConfig):
  variant: str = "full"       # "full" (~4 h) or "tiny" (~5 min)
  # "fluidsynth" (FluidR3 grand), "numpy" (built-in synth), or a multi-timbre set's
  # name (`timbres.TimbreSet.name`: mix_A+B+..._heldout_H)
  renderer: str = "numpy"


def _tiny_selection(names: list[str]) -> list[str]:
  """~5 minutes: the first chorales of each split of the full set, in sorted order."""
  want = {"train": 7, "validation": 1, "test": 1}
  chosen = []
  for name in names:
    split = scores.split_of(name)
    if name.startswith("bach/") and want[split] > 0:
      chosen.append(name)
      want[split] -= 1
  return chosen


def piece_seed(name: str) -> int:
  """A piece's humanization seed: stable across builds, sets and machines."""
  return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


class Music21Piano(_AudioBuilder):
  """Bach chorales and solo keyboard works from music21's corpus, played on piano.

  Scores are humanized (seeded) and rendered with FluidSynth's FluidR3 acoustic
  grand, or with the built-in NumPy piano where FluidSynth is absent, each piece
  peak-normalized to 0.9; or, in a multi-timbre set (`data/piano/timbres.py`), with a
  seeded piano, room and level per piece and one piano held out for validation and
  test. The config name says which (`full_fluidsynth`, `tiny_numpy`,
  `full_mix_fluidr3+gmbank+numpy+numpy_upright_heldout_timgm6mb`, ...), so results
  never mix. Split by work, pinned in code (`scores.split_of`). For research use: the
  encodings are distributed with music21 by permission.
  """

  VERSION = VERSION
  RELEASE_NOTES = RELEASE_NOTES
  BUILDER_CONFIGS = [
      PianoConfig(name=f"{v}_{r}", variant=v, renderer=r,
                  description=f"{v} set rendered with {r}")
      for v in ("full", "tiny")
      for r in ("fluidsynth", "numpy", *(ts.name for ts in timbres.all_sets()))
  ]

  def __init__(self, *, parse_timeout_s: float = 120.0, **kwargs):
    self._parse_timeout_s = parse_timeout_s
    super().__init__(**kwargs)

  def _split_generators(self, dl_manager):
    del dl_manager
    cfg = self.builder_config
    mix = cfg.renderer.startswith("mix_")
    if cfg.renderer == "fluidsynth" and not fluidsynth.available():
      raise BuildError("config %r needs FluidSynth and a GM soundfont: `apt-get "
                       "install fluidsynth fluid-soundfont-gm`, or build the "
                       "`%s_numpy` config" % (cfg.name, cfg.variant))
    if mix:
      tset = timbres.TimbreSet.parse(cfg.renderer)
      missing = sorted(set((*tset.train, tset.held_out)) - set(timbres.available()))
      if missing:
        raise BuildError(
            f"config {cfg.name!r} needs the timbres {missing}, which this machine "
            f"cannot render (FluidSynth and the soundfonts of `make fluidsynth`); "
            f"build with --renderer mix to use the timbres that are installed")
    names = scores.list_corpus()
    if cfg.variant == "tiny":
      names = _tiny_selection(names)
    pieces, skipped = scores.load_pieces(names, timeout_s=self._parse_timeout_s)
    print(f"parsed {len(pieces)} scores, skipped {len(skipped)}")
    _report_skips(self, skipped, self._strict)
    if mix:
      by_split = self._render_mix(pieces, tset)
    else:
      audio = self._render(pieces)
      by_split = {s: [] for s in SPLITS}
      for piece in pieces:
        by_split[scores.split_of(piece.name)].append((piece.name, audio[piece.name]))
    self.info.metadata["renderer"] = cfg.renderer
    self.info.metadata["seconds"] = {
        s: sum(len(a) for _, a in files) / audio_io.SAMPLE_RATE
        for s, files in by_split.items()}
    return {s: self._generate_examples(files) for s, files in by_split.items()}

  def _render_mix(self, pieces, tset: timbres.TimbreSet
                  ) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Every piece in a seeded training timbre (train) or the held-out one
    (validation, test), plus the test pieces again in training timbres."""
    jobs = []  # (split, name, performance, rendering, seed)
    for p in pieces:
      split, seed = scores.split_of(p.name), piece_seed(p.name)
      perf = humanize(p, seed)
      pool = tset.train if split == "train" else (tset.held_out,)
      jobs.append((split, p.name, perf, timbres.plan(seed, pool), seed))
      if split == "test":
        seen = piece_seed(p.name + "#" + SEEN_TIMBRES_SPLIT)
        jobs.append((SEEN_TIMBRES_SPLIT, p.name, perf,
                     timbres.plan(seen, tset.train), seen))
    for voicing in {timbres.VOICINGS[j[3].timbre] for j in jobs
                    if j[3].timbre in timbres.VOICINGS}:
      piano_synth.note_table(voicing=voicing)  # once, before the threads
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
      audio = list(pool.map(lambda j: timbres.render(j[2], j[3], j[4]), jobs))
    by_split = {s: [] for s in (*SPLITS, SEEN_TIMBRES_SPLIT)}
    renderings = {s: {} for s in by_split}
    for (split, name, _, r, _), a in zip(jobs, audio):
      by_split[split].append((name, a))
      renderings[split][name] = dataclasses.asdict(r)
    unused = [t for t in timbres.TIMBRES
              if t not in tset.train and t != tset.held_out]
    self.info.metadata["timbres"] = {"train": list(tset.train),
                                     "held_out": tset.held_out,
                                     "not_installed": unused}
    self.info.metadata["renderings"] = renderings
    if unused:
      print(f"NOTE: built with {len(tset.train) + 1} of {len(timbres.TIMBRES)} "
            f"timbres; not installed here: {', '.join(unused)} (`make fluidsynth` "
            f"installs FluidSynth and the soundfonts)")
    return by_split

  def _render(self, pieces) -> dict[str, np.ndarray]:
    perfs = [(p.name, humanize(p, piece_seed(p.name))) for p in pieces]
    if self.builder_config.renderer == "numpy":
      return {name: piano_synth.render(perf) for name, perf in perfs}
    # FluidSynth runs as a subprocess: threads keep every core busy.
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
      audio = pool.map(lambda np_: fluidsynth.render(np_[1]), perfs)
      return {name: a for (name, _), a in zip(perfs, audio)}


def piano_config_name(variant: str = "full", renderer: str = "auto") -> str:
  """`{variant}_{renderer}`.

  renderer: "fluidsynth", "numpy", "auto" (fluidsynth when available), "mix" (the
  multi-timbre set of every timbre installed here), or a set's full name
  (mix_A+B_heldout_C) to ask for exactly those timbres.
  """
  if variant not in ("full", "tiny"):
    raise ValueError(f"variant must be 'full' or 'tiny', got {variant!r}")
  if renderer == "auto":
    renderer = "fluidsynth" if fluidsynth.available() else "numpy"
  elif renderer == "mix":
    renderer = timbres.TimbreSet.from_available(timbres.available()).name
  elif renderer.startswith("mix_"):
    try:
      renderer = timbres.TimbreSet.parse(renderer).name
    except ValueError as e:
      raise ValueError(f"bad renderer {renderer!r}: {e}") from None
  elif renderer not in ("fluidsynth", "numpy"):
    raise ValueError(f"renderer must be auto, fluidsynth, numpy, mix or a timbre "
                     f"set name (mix_A+B_heldout_C), got {renderer!r}")
  return f"{variant}_{renderer}"


def piano_config(variant: str = "full", renderer: str = "auto") -> PianoConfig:
  """The builder config `piano_config_name` names (any timbre set, listed or not)."""
  name = piano_config_name(variant, renderer)
  listed = {c.name: c for c in Music21Piano.BUILDER_CONFIGS}
  if name in listed:
    return listed[name]
  return PianoConfig(name=name, variant=variant, renderer=name[len(variant) + 1:],
                     description=f"{variant} set rendered with {name}")


# ---- YouTubeMix --------------------------------------------------------------------

YOUTUBE_MIX_FILES = 241
YOUTUBE_MIX_SPLITS = {"train": range(0, 212), "validation": range(212, 226),
                      "test": range(226, 241)}


def natural_key(name: str):
  return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


_YOUTUBE_MIX_HELP = ("Place the 241 files out000.wav ... out240.wav of YouTubeMix in "
                     "one folder and pass it as --manual_dir.")


# Files an OS leaves beside audio: never audio, never counted as a dataset's files.
_OS_METADATA_FILES = {".ds_store", "thumbs.db", "desktop.ini", "icon\r"}
_OS_METADATA_DIRS = {"__macosx", ".spotlight-v100", ".trashes", ".fseventsd"}


def _is_os_metadata(name: str) -> bool:
  """Hidden files (`._out000.wav`: macOS AppleDouble, not audio) and OS leftovers."""
  return name.startswith(".") or name.lower() in _OS_METADATA_FILES


def list_folder(folder: str, *, recursive: bool) -> tuple[list[str], dict[str, str]]:
  """(candidate files, ignored files with their reason), relative paths, sorted.

  Hidden files and folders, `__MACOSX/` and similar OS metadata are ignored (and
  listed), so they can neither shift a split nor be read as audio.
  """
  kept, ignored = [], {}
  for d, _, files in os.walk(folder):
    parts = [] if d == folder else os.path.relpath(d, folder).split(os.sep)
    for f in files:
      path = os.path.join(*parts, f)
      if any(p.startswith(".") or p.lower() in _OS_METADATA_DIRS for p in parts):
        ignored[path] = "in a hidden or OS metadata folder"
      elif _is_os_metadata(f):
        ignored[path] = "hidden or OS metadata file (e.g. macOS AppleDouble ._*)"
      elif parts and not recursive:
        ignored[path] = "in a subfolder (only the top level is read)"
      else:
        kept.append(path)
  return sorted(kept), ignored


def _report_ignored(builder, ignored: dict[str, str]) -> None:
  """Stores and prints what a folder held besides the audio it uses."""
  builder.info.metadata["ignored"] = dict(ignored)
  if ignored:
    lines = "\n".join(f"  {k}: {v}" for k, v in sorted(ignored.items())[:20])
    more = f"\n  ... and {len(ignored) - 20} more" if len(ignored) > 20 else ""
    print(f"ignored {len(ignored)} file(s) that are not audio inputs:\n{lines}{more}")


def youtube_mix_files(folder: str, allow_partial: bool = False
                      ) -> tuple[list[str], dict[str, str]]:
  """(the .wav names in `folder`, naturally sorted; ignored files with reasons).

  BuildError unless there are exactly 241 (`allow_partial` accepts another count: the
  split then follows the sorted positions and is not SaShiMi's).
  """
  if not os.path.isdir(folder):
    raise BuildError(f"YouTubeMix folder {folder} does not exist. {_YOUTUBE_MIX_HELP}")
  files, ignored = list_folder(folder, recursive=False)
  wavs = sorted((f for f in files if f.lower().endswith(".wav")), key=natural_key)
  for f in files:
    if not f.lower().endswith(".wav"):
      ignored[f] = "not a .wav file"
  if not wavs:
    raise BuildError(f"no .wav files in {folder}. {_YOUTUBE_MIX_HELP}")
  if len(wavs) != YOUTUBE_MIX_FILES and not allow_partial:
    raise BuildError(
        f"{folder} holds {len(wavs)} .wav files (besides {len(ignored)} ignored), "
        f"YouTubeMix has {YOUTUBE_MIX_FILES}: SaShiMi's split needs exactly those. "
        f"{_YOUTUBE_MIX_HELP} To build from these files anyway (a split that is not "
        f"SaShiMi's), pass --allow_partial.")
  return wavs, ignored


def audio_folder_files(folder: str) -> tuple[list[str], dict[str, str]]:
  """(audio files under `folder`, ignored files with reasons); BuildError if none.

  Audio is every extension the installed libsndfile reads; any other regular file
  is listed as ignored with its reason, so nothing disappears unreported.
  """
  if not os.path.isdir(folder):
    raise BuildError(f"audio folder {folder} does not exist; pass the folder that "
                     f"holds your audio files as --manual_dir")
  files, ignored = list_folder(folder, recursive=True)
  found = [f for f in files if f.lower().endswith(audio_io.AUDIO_EXTENSIONS)]
  for f in files:
    if not f.lower().endswith(audio_io.AUDIO_EXTENSIONS):
      ignored[f] = ("not an audio format this libsndfile reads "
                    f"({os.path.splitext(f)[1] or 'no extension'})")
  if not found:
    raise BuildError(f"no audio files ({', '.join(audio_io.AUDIO_EXTENSIONS)}) "
                     f"under {folder}")
  return found, ignored


class YoutubeMix(_AudioBuilder):
  """YouTubeMix piano (SaShiMi's copy): 241 one-minute 16 kHz WAVs out000..out240.

  Download the WAVs yourself (SaShiMi's data preparation, state-spaces/s4) and pass
  their folder as `manual_dir`. Split as SaShiMi: natural sort, files 0-211 train,
  212-225 validation, 226-240 test.
  """

  VERSION = VERSION
  RELEASE_NOTES = RELEASE_NOTES
  MANUAL_DOWNLOAD_INSTRUCTIONS = _YOUTUBE_MIX_HELP

  def __init__(self, *, allow_partial: bool = False, **kwargs):
    self._allow_partial = allow_partial
    super().__init__(**kwargs)

  def _split_generators(self, dl_manager):
    folder = os.fspath(dl_manager.manual_dir)
    wavs, ignored = youtube_mix_files(folder, self._allow_partial)
    _report_ignored(self, ignored)
    paths = [os.path.join(folder, f) for f in wavs]
    audio, skipped = _load_files(paths)
    _report_skips(self, {os.path.basename(k): v for k, v in skipped.items()},
                  self._strict)
    return {split: self._generate_examples(
        [(os.path.basename(p), audio[p]) for i, p in enumerate(paths)
         if i in index and p in audio])
            for split, index in YOUTUBE_MIX_SPLITS.items()}



# ---- Any folder of audio -----------------------------------------------------------


@dataclasses.dataclass
class AudioFolderConfig(tfds.core.BuilderConfig):
  seed: int = 0                      # seeds the file-level split
  fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)  # train, val, test


def split_files(names: list[str], seed: int,
                fractions: tuple[float, float, float]) -> dict[str, list[str]]:
  """A seeded shuffle of files into train/validation/test; with three or more files
  no split is empty."""
  if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
    raise ValueError(f"fractions must be three non-negative numbers summing to 1; "
                     f"got {fractions}")
  order = list(np.random.default_rng(seed).permutation(sorted(names)))
  n = len(order)
  n_val, n_test = (int(round(f * n)) for f in fractions[1:])
  if n >= 3:
    n_val = max(n_val, 1 if fractions[1] > 0 else 0)
    n_test = max(n_test, 1 if fractions[2] > 0 else 0)
  n_train = n - n_val - n_test
  return {"train": sorted(order[:n_train]),
          "validation": sorted(order[n_train:n_train + n_val]),
          "test": sorted(order[n_train + n_val:])}


class AudioFolder(_AudioBuilder):
  """Every audio file libsndfile reads under `manual_dir` (recursively; hidden and
  OS metadata files ignored), resampled to 16 kHz mono, split by file with a seeded shuffle. Name the dataset with
  `config=AudioFolderConfig(name=...)`; the split of every file is in the
  `manifest` metadata."""

  VERSION = VERSION
  RELEASE_NOTES = RELEASE_NOTES
  MANUAL_DOWNLOAD_INSTRUCTIONS = "Pass the folder that holds your audio as --manual_dir."

  def _split_generators(self, dl_manager):
    folder = os.fspath(dl_manager.manual_dir)
    found, ignored = audio_folder_files(folder)
    _report_ignored(self, ignored)
    audio, skipped = _load_files([os.path.join(folder, f) for f in found])
    audio = {os.path.relpath(k, folder): v for k, v in audio.items()}
    _report_skips(self, {os.path.relpath(k, folder): v for k, v in skipped.items()},
                  self._strict)
    if len(audio) < 3:
      raise BuildError(f"{len(audio)} of the {len(found)} audio files under {folder} "
                       f"could be read; train, validation and test need at least 3")
    cfg = self.builder_config
    splits = split_files(sorted(audio), cfg.seed, tuple(cfg.fractions))
    self.info.metadata["manifest"] = splits
    return {s: self._generate_examples([(n, audio[n]) for n in names])
            for s, names in splits.items()}

