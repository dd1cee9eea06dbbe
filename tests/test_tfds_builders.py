"""Dataset builders: the built-in piano set, YouTubeMix's layout, folders of audio."""

import collections
import os
import tempfile

import numpy as np
import pytest
import soundfile as sf
import tensorflow_datasets as tfds

from audiolm_jax.data import recipes
from audiolm_jax.data import tfds_builders, datasets
from audiolm_jax.data.piano import scores


def _records(path, split):
  src = datasets.open_split(path, split)
  return [src[i] for i in range(len(src))]


@pytest.fixture(scope="module")
def tiny_piano(tiny_data_dir):
  """The tiny built-in set, rendered with the NumPy piano (no FluidSynth needed)."""
  spec = datasets.DatasetSpec("music21_piano", variant="tiny", renderer="numpy")
  return datasets.dataset_dir(spec, tiny_data_dir)


def test_tiny_piano_set(tiny_piano):
  assert tiny_piano.endswith(os.path.join("music21_piano", "tiny_numpy", "2.0.0"))
  seconds = {}
  for split in tfds_builders.SPLITS:
    records = _records(tiny_piano, split)
    assert records, split
    for r in records:
      assert r["audio"].dtype == np.int16  # raw 16-bit PCM; recipes make codes
      assert len(r["audio"]) == pytest.approx(r["seconds"] * 16_000, abs=1)
      codes = recipes.codes(r["audio"], "mu_law").astype(int)
      assert codes.std() > 3 and len(np.unique(codes)) > 60  # real music, not silence
      assert scores.split_of(r["name"].decode()) == split
    seconds[split] = sum(float(r["seconds"]) for r in records)
  assert 200 < sum(seconds.values()) < 500  # about five minutes
  meta = tfds.builder_from_directory(tiny_piano).info.metadata
  assert meta["renderer"] == "numpy" and meta["skipped"] == {}
  assert meta["storage"] == "pcm16"
  report = datasets.describe(tiny_piano)
  assert "train: 7 files" in report and "skipped: 0" in report


def test_records_store_two_bytes_per_sample(np_rng):
  """Larger records overflow TFDS's in-memory shuffle into code that needs
  TensorFlow (a full build failed so when int16 audio was stored as int64s)."""
  audio = np_rng.uniform(-1, 1, 48_000)
  record = tfds_builders.features().serialize_example(
      {"audio": recipes.to_pcm16(audio), "name": "x", "seconds": np.float32(3.0)})
  assert 2 * len(audio) <= len(record) < 2 * len(audio) + 200


def test_builds_are_reused_not_overwritten(tiny_piano):
  info = os.path.join(tiny_piano, "dataset_info.json")
  before = os.stat(info).st_mtime_ns
  spec = datasets.DatasetSpec("music21_piano", variant="tiny", renderer="numpy")
  assert datasets.build(spec, os.path.dirname(os.path.dirname(os.path.dirname(
      tiny_piano)))) == tiny_piano
  assert os.stat(info).st_mtime_ns == before


def test_piano_splits_are_by_work_and_about_90_4_6():
  names = scores.list_corpus()
  assert 410 <= sum(n.startswith("bach/") for n in names) <= 420
  split_by_work = collections.defaultdict(set)
  for n in names:
    split_by_work[scores.work_of(n)].add(scores.split_of(n))
  assert all(len(s) == 1 for s in split_by_work.values())  # no work in two splits
  counts = collections.Counter(scores.split_of(n) for n in names)
  assert 0.85 < counts["train"] / len(names) < 0.94
  assert counts["validation"] >= 5 and counts["test"] >= 10
  assert scores.work_of("bach/bwv1.6.mxl") == scores.work_of("bach/bwv1.7.mxl")


def test_fluidsynth_config_without_fluidsynth_is_a_clear_error(monkeypatch, tmp_path):
  monkeypatch.setattr(tfds_builders.fluidsynth, "available", lambda: False)
  spec = datasets.DatasetSpec("music21_piano", variant="tiny", renderer="fluidsynth")
  with pytest.raises(tfds_builders.BuildError, match="apt-get install fluidsynth"):
    datasets.build(spec, str(tmp_path))
  assert tfds_builders.piano_config_name("tiny", "auto") == "tiny_numpy"


def _write_youtube_mix(folder, n=241, seconds=0.05):
  folder.mkdir()
  rng = np.random.default_rng(0)
  for i in range(n):
    # File i holds a constant level that identifies it after quantization.
    level = -0.9 + 1.8 * i / (n - 1)
    x = level + 0.001 * rng.standard_normal(int(16_000 * seconds))
    sf.write(folder / f"out{i:03d}.wav", x, 16_000, subtype="PCM_16")


def _add_macos_leftovers(folder):
  """What unzipping on a Mac leaves: AppleDouble files (not audio), __MACOSX/."""
  (folder / "._out000.wav").write_bytes(b"\x00\x05\x16\x07" + bytes(60))
  (folder / ".DS_Store").write_bytes(bytes(64))
  (folder / "__MACOSX").mkdir()
  (folder / "__MACOSX" / "._out001.wav").write_bytes(bytes(64))
  return {"._out000.wav", ".DS_Store", os.path.join("__MACOSX", "._out001.wav")}


def test_youtube_mix_layout_and_sashimi_split(tmp_path):
  _write_youtube_mix(tmp_path / "ytm")
  leftovers = _add_macos_leftovers(tmp_path / "ytm")
  spec = datasets.DatasetSpec("youtube_mix", manual_dir=str(tmp_path / "ytm"))
  path = datasets.build(spec, str(tmp_path / "tfds"), strict=True)
  meta = tfds.builder_from_directory(path).info.metadata
  assert set(meta["ignored"]) == leftovers and not meta["skipped"]
  expected = {"train": range(0, 212), "validation": range(212, 226),
              "test": range(226, 241)}
  for split, index in expected.items():
    names = sorted(r["name"].decode() for r in _records(path, split))
    assert names == [f"out{i:03d}.wav" for i in index]
  rec = {r["name"].decode(): r for r in _records(path, "test")}["out230.wav"]
  level = -0.9 + 1.8 * 230 / 240
  assert abs(np.median(rec["audio"]) / 32768 - level) < 0.005


def test_youtube_mix_needs_all_241_files_unless_told(tmp_path):
  _write_youtube_mix(tmp_path / "ytm", n=240)
  _add_macos_leftovers(tmp_path / "ytm")
  spec = datasets.DatasetSpec("youtube_mix", manual_dir=str(tmp_path / "ytm"))
  with pytest.raises(tfds_builders.BuildError, match=r"holds 240 \.wav files \(besides 3 "
                     r"ignored\).*--allow_partial"):
    datasets.build(spec, str(tmp_path / "tfds"))
  assert not (tmp_path / "tfds" / "youtube_mix").exists() or not any(
      (tmp_path / "tfds" / "youtube_mix").rglob("*.array_record*"))
  spec = datasets.DatasetSpec("youtube_mix", manual_dir=str(tmp_path / "ytm"),
                              allow_partial=True)
  path = datasets.build(spec, str(tmp_path / "tfds"))
  assert len(_records(path, "test")) == 14  # positions 226-239 of the sorted 240


def test_youtube_mix_natural_sort():
  names = ["out10.wav", "out2.wav", "out1.wav"]
  assert sorted(names, key=tfds_builders.natural_key) == ["out1.wav", "out2.wav",
                                                     "out10.wav"]


def test_youtube_mix_missing_or_empty_folder(tmp_path):
  spec = datasets.DatasetSpec("youtube_mix", manual_dir=str(tmp_path / "nowhere"))
  with pytest.raises(tfds_builders.BuildError, match="nowhere does not exist.*out000.wav"):
    datasets.build(spec, str(tmp_path / "a"))
  (tmp_path / "empty").mkdir()
  spec = datasets.DatasetSpec("youtube_mix", manual_dir=str(tmp_path / "empty"))
  with pytest.raises(tfds_builders.BuildError, match="no .wav files in"):
    datasets.build(spec, str(tmp_path / "b"))
  with pytest.raises(tfds_builders.BuildError, match="needs --manual_dir"):
    datasets.build(datasets.DatasetSpec("youtube_mix"), str(tmp_path / "c"))


def _write_folder(folder):
  (folder / "sub").mkdir(parents=True)
  t = np.arange(8_000) / 16_000
  for i in range(8):
    sf.write(folder / f"clip{i}.wav", 0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t),
             16_000)
  sf.write(folder / "sub" / "deep.flac", 0.2 * np.sin(2 * np.pi * 300 * t), 16_000)
  sf.write(folder / "sub" / "fast.ogg", 0.2 * np.sin(2 * np.pi * 300 * t), 16_000)
  sf.write(folder / "sub" / "song.mp3", 0.2 * np.sin(2 * np.pi * 440 * t), 16_000,
           format="MP3")
  sf.write(folder / "Loud.AIFF", 0.2 * np.sin(2 * np.pi * 500 * t), 16_000)
  (folder / "broken.wav").write_text("not audio")
  (folder / "empty.flac").write_bytes(b"")
  (folder / "notes.txt").write_text("ignored: not an audio extension")
  (folder / "._clip0.wav").write_bytes(bytes(64))


def test_audio_folder_reports_skips_and_manifest(tmp_path):
  _write_folder(tmp_path / "music")
  spec = datasets.DatasetSpec("audio_folder", manual_dir=str(tmp_path / "music"),
                              folder_name="mine", seed=3)
  path = datasets.build(spec, str(tmp_path / "tfds"))
  assert path.endswith(os.path.join("audio_folder", "mine", "2.0.0"))
  meta = tfds.builder_from_directory(path).info.metadata
  assert set(meta["skipped"]) == {"broken.wav", "empty.flac"}
  assert set(meta["ignored"]) == {"notes.txt", "._clip0.wav"}
  assert "not an audio format" in meta["ignored"]["notes.txt"]
  manifest = meta["manifest"]
  got = {s: sorted(r["name"].decode() for r in _records(path, s))
         for s in tfds_builders.SPLITS}
  assert got == {s: sorted(manifest[s]) for s in tfds_builders.SPLITS}
  everything = sorted(sum(got.values(), []))
  assert everything == sorted([f"clip{i}.wav" for i in range(8)]
                              + ["sub/deep.flac", "sub/fast.ogg", "sub/song.mp3",
                                 "Loud.AIFF"])
  assert all(got[s] for s in tfds_builders.SPLITS)


def test_audio_folder_strict_and_empty(tmp_path):
  _write_folder(tmp_path / "music")
  spec = datasets.DatasetSpec("audio_folder", manual_dir=str(tmp_path / "music"))
  with pytest.raises(tfds_builders.BuildError, match=r"(?s)2 input\(s\).*broken\.wav"):
    datasets.build(spec, str(tmp_path / "tfds"), strict=True)
  (tmp_path / "none").mkdir()
  spec = datasets.DatasetSpec("audio_folder", manual_dir=str(tmp_path / "none"))
  with pytest.raises(tfds_builders.BuildError, match="no audio files"):
    datasets.build(spec, str(tmp_path / "tfds2"))


def test_split_files_is_seeded_and_complete():
  names = [f"f{i}" for i in range(40)]
  a = tfds_builders.split_files(names, 0, (0.8, 0.1, 0.1))
  assert a == tfds_builders.split_files(names, 0, (0.8, 0.1, 0.1))
  assert a != tfds_builders.split_files(names, 1, (0.8, 0.1, 0.1))
  assert sorted(sum(a.values(), [])) == sorted(names)
  assert [len(a[s]) for s in tfds_builders.SPLITS] == [32, 4, 4]
  with pytest.raises(ValueError, match="summing to 1"):
    tfds_builders.split_files(names, 0, (0.5, 0.1, 0.1))


def test_open_split_errors(tiny_piano, tmp_path):
  with pytest.raises(FileNotFoundError, match="no built dataset"):
    datasets.open_split(str(tmp_path), "train")
  with pytest.raises(ValueError, match="unknown split 'dev'"):
    datasets.open_split(tiny_piano, "dev")


def test_score_parsing_never_forks_a_process_running_jax():
  """JAX starts threads; forking then can deadlock (JAX warns at every os.fork)."""
  import warnings  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  float(jnp.ones(3).sum())  # JAX's threads are running
  names = [n for n in scores.list_corpus() if n.startswith("bach/")][:2]
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    pieces, skipped = scores.load_pieces(names, workers=2)
  assert len(pieces) + len(skipped) == 2 and pieces
  assert not [w for w in caught if "fork" in str(w.message)], caught


def test_locating_an_unbuilt_dataset_leaves_no_temporary_folder(monkeypatch, tmp_path):
  # TFDS makes (and never removes) an empty temporary folder whenever a builder of
  # an unbuilt dataset is constructed; ours point it into a folder removed at once.
  scratch = tmp_path / "tmp"
  scratch.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(scratch))
  for spec in (datasets.DatasetSpec("music21_piano", variant="tiny", renderer="numpy"),
               datasets.DatasetSpec("audio_folder", manual_dir=str(tmp_path),
                                    folder_name="never_built")):
    path = datasets.dataset_dir(spec, str(tmp_path / "data"))
    assert not os.path.exists(path)
  assert list(scratch.iterdir()) == []
  assert tempfile.tempdir == str(scratch)  # restored
