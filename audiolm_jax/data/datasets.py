"""Naming, building and opening datasets: one place that knows the three tfds_builders.

A `DatasetSpec` names a dataset the way configs do; `build` prepares it (reusing an
existing build), `dataset_dir` says where it lives, and `open_split` returns a
random-access TFDS data source that needs no builder code (any process can open it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import tempfile

import tensorflow_datasets as tfds

from audiolm_jax.data import tfds_builders
from audiolm_jax.data.tfds_builders import BuildError  # re-exported for the CLIs


class DatasetVersionError(ValueError):
  """A dataset built by an older version of the builders; says how to rebuild."""


DATASETS = ("music21_piano", "youtube_mix", "audio_folder")
__all__ = ["BuildError", "DATASETS", "DatasetVersionError", "DatasetSpec", "build",
           "dataset_dir", "default_data_dir", "describe", "open_split"]


def default_data_dir() -> str:
  return os.environ.get("AUDIOLM_DATA_DIR",
                        os.path.join(os.path.expanduser("~"), "tensorflow_datasets"))


def data_dir_of(data) -> str:
  """The TFDS data_dir of a config's `data` fields (a ConfigDict or a saved run's
  dict): its `data_dir`, or the default where that is empty."""
  return os.path.expanduser(data.get("data_dir") or "") or default_data_dir()


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """Which dataset: `music21_piano` (variant, renderer), `youtube_mix`, or
  `audio_folder` (folder_name, seed; manual_dir holds the audio)."""

  name: str = "music21_piano"
  variant: str = "tiny"           # music21_piano: "full" or "tiny"
  renderer: str = "auto"          # music21_piano: auto | fluidsynth | numpy | mix | mix_...
  manual_dir: str | None = None   # youtube_mix / audio_folder: the source files
  folder_name: str = "default"    # audio_folder: the dataset's config name
  seed: int = 0                   # audio_folder: the split's seed
  allow_partial: bool = False     # youtube_mix: build from other than its 241 files

  def __post_init__(self):
    if self.name not in DATASETS:
      raise ValueError(f"unknown dataset {self.name!r}; use one of {DATASETS}")


def spec_from_fields(data) -> DatasetSpec:
  """The DatasetSpec of a config's `data` fields (a ConfigDict, or the dict a run
  saved with its checkpoints)."""
  return DatasetSpec(name=data["dataset"], variant=data["variant"],
                     renderer=data["renderer"], manual_dir=data.get("manual_dir") or None,
                     folder_name=data.get("folder_name", "default"))


@contextlib.contextmanager
def scratch_tempdir():
  """Temporary folders made inside point into one folder removed on exit.

  Constructing a TFDS builder of a dataset not built yet makes an empty folder in
  the system's temporary directory that TFDS never removes (DatasetInfo's lookup of
  published metadata, disabled offline): every `train` or `dataset_dir` call before
  a build would leave one behind. Builders are constructed on the main thread,
  before any input worker starts.
  """
  with tempfile.TemporaryDirectory(prefix="audiolm_tfds_") as scratch:
    previous, tempfile.tempdir = tempfile.tempdir, scratch
    try:
      yield
    finally:
      tempfile.tempdir = previous


def _builder(spec: DatasetSpec, data_dir: str, strict: bool = False):
  download = tfds.download.DownloadConfig(manual_dir=spec.manual_dir)
  common = dict(data_dir=data_dir, strict=strict, file_format="array_record")
  with scratch_tempdir():
    return _construct(spec, common), download


def _construct(spec: DatasetSpec, common: dict):
  if spec.name == "music21_piano":
    config = tfds_builders.piano_config(spec.variant, spec.renderer)
    builder = tfds_builders.Music21Piano(config=config, **common)
  elif spec.name == "youtube_mix":
    builder = tfds_builders.YoutubeMix(allow_partial=spec.allow_partial, **common)
  else:
    config = tfds_builders.AudioFolderConfig(name=spec.folder_name, seed=spec.seed)
    builder = tfds_builders.AudioFolder(config=config, **common)
  return builder


def dataset_dir(spec: DatasetSpec, data_dir: str) -> str:
  """Where the built dataset lives (it may not exist yet)."""
  builder, _ = _builder(spec, data_dir)
  return os.fspath(builder.data_dir)


def build(spec: DatasetSpec, data_dir: str, *, strict: bool = False) -> str:
  """Builds the dataset unless it is already there; returns its directory."""
  needs_source = spec.name in ("youtube_mix", "audio_folder")
  builder, download = _builder(spec, data_dir, strict)
  done = os.path.isfile(os.path.join(os.fspath(builder.data_dir), "dataset_info.json"))
  if not done and needs_source:
    if not spec.manual_dir:
      raise BuildError(f"dataset {spec.name} needs --manual_dir: the folder that "
                       f"holds its audio files")
    # Our own checks first: TFDS's would only say the folder is missing or empty.
    if spec.name == "youtube_mix":
      tfds_builders.youtube_mix_files(spec.manual_dir, spec.allow_partial)
    else:
      tfds_builders.audio_folder_files(spec.manual_dir)
  if not done and not (sys.stderr.isatty() or sys.stdout.isatty()):
    # TFDS's bars redraw with carriage returns: thousands of updates in a log file.
    tfds.disable_progress_bar()
  builder.download_and_prepare(download_config=download)
  return os.fspath(builder.data_dir)


def open_split(path: str, split: str):
  """A random-access source of records {audio (int16 PCM), name, seconds} of one
  split; DatasetVersionError for a build of the old (codes-only) format."""
  if not os.path.isfile(os.path.join(path, "dataset_info.json")):
    raise FileNotFoundError(
        f"no built dataset at {path}; build it first with "
        f"`python -m audiolm_jax.data.build --dataset ...`")
  builder = tfds.builder_from_directory(path)
  if "audio" not in builder.info.features:
    raise DatasetVersionError(
        f"the dataset at {path} (version {builder.info.version}) stores 8-bit codes, "
        f"not the 16-bit audio this version reads (recipes make codes from it). "
        f"Rebuild it: `python -m audiolm_jax.data.build` with the same dataset flags "
        f"writes version {tfds_builders.VERSION} beside it (the old one stays untouched; "
        f"delete it yourself when no run needs it).")
  if split not in builder.info.splits:
    raise ValueError(f"unknown split {split!r} for {path}; it has "
                     f"{sorted(builder.info.splits)}")
  return builder.as_data_source(split=split)


def describe(path: str) -> str:
  """A short report: files and hours per split, renderer, what was skipped."""
  builder = tfds.builder_from_directory(path)
  meta = dict(builder.info.metadata or {})
  lines = [f"{builder.info.full_name} at {path}"]
  seconds = meta.get("seconds", {})
  for split, info in sorted(builder.info.splits.items()):
    dur = seconds.get(split)
    extra = f", {dur / 3600:.2f} h" if dur is not None else ""
    lines.append(f"  {split}: {info.num_examples} files{extra}")
  if meta.get("renderer"):
    lines.append(f"  renderer: {meta['renderer']}")
  if meta.get("timbres"):
    t = meta["timbres"]
    lines.append(f"  timbres: train {', '.join(t['train'])}; held out (validation, "
                 f"test) {t['held_out']}"
                 + (f"; not installed: {', '.join(t['not_installed'])}"
                    if t.get("not_installed") else ""))
  skipped = meta.get("skipped", {})
  lines.append(f"  skipped: {len(skipped)}"
               + ("" if not skipped else " " + json.dumps(skipped)[:2000]))
  ignored = meta.get("ignored", {})
  if ignored:
    lines.append(f"  ignored (not audio inputs): {len(ignored)} "
                 + json.dumps(ignored)[:2000])
  return "\n".join(lines)
