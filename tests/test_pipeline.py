"""The Grain pipeline: exact windows, length-proportional files, shards, resumable."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow_datasets as tfds

from audiolm_jax.data import datasets, pipeline, recipes
from toy_set import ToySet, file_audio

SILENCE = 128


class OldToySet(ToySet):
  """The same files as version 1.0.0 stored them: mu-law codes only."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "codes": tfds.features.Tensor(shape=(None,), dtype=np.uint8),
        "name": tfds.features.Text(),
        "seconds": tfds.features.Scalar(dtype=np.float32)}))

  def _generate_examples(self):
    for name, n in self.LENGTHS.items():
      yield name, {"codes": _file_codes(name, n), "name": name, "seconds": n / 16e3}


def _file_codes(name, n, recipe="mu_law"):
  return recipes.codes(file_audio(name, n), recipe)


def _find(window, files, num_targets):
  """(name, end) of the file and end position a window was cut from."""
  for name, codes in files.items():
    for end in range(num_targets, len(codes) + 1):
      begin = end - len(window)
      expect = np.concatenate([np.full(max(-begin, 0), SILENCE, np.uint8),
                               codes[max(begin, 0):end]])
      if np.array_equal(expect, window):
        return name, end
  raise AssertionError("window matches no slice of any file")


def test_flat_split_is_the_records_back_to_back(toy):
  flat = pipeline.FlatSplit(toy, "train")
  got = {flat.names[i]: np.asarray(flat.file(i)) for i in range(len(flat.names))}
  for name, n in ToySet.LENGTHS.items():
    np.testing.assert_array_equal(got[name], _file_codes(name, n))
  with open(os.path.join(toy, "flat", "mu_law", "train.json")) as f:
    assert json.load(f)["lengths"] == [ToySet.LENGTHS[n] for n in flat.names]


@pytest.mark.parametrize("recipe", ["linear", "sashimi"])
def test_each_recipe_flattens_its_own_codes_of_the_stored_audio(toy, recipe,
                                                               monkeypatch):
  monkeypatch.setattr(recipes, "SASHIMI_CHUNK", 1000)  # scaled per 1,000 samples
  flat = pipeline.FlatSplit(toy, "train", recipe)
  assert os.path.isfile(os.path.join(toy, "flat", recipe, "train.u8"))
  for i, name in enumerate(flat.names):
    want = _file_codes(name, ToySet.LENGTHS[name], recipe)
    np.testing.assert_array_equal(np.asarray(flat.file(i)), want)
    assert not np.array_equal(want, _file_codes(name, ToySet.LENGTHS[name]))
  with pytest.raises(ValueError, match="unknown recipe"):
    pipeline.FlatSplit(toy, "train", "a_law")


def test_a_dataset_of_the_old_format_asks_to_be_rebuilt(tmp_path):
  with datasets.scratch_tempdir():
    builder = OldToySet(data_dir=str(tmp_path), file_format="array_record")
  builder.download_and_prepare()
  with pytest.raises(datasets.DatasetVersionError, match="Rebuild it"):
    pipeline.FlatSplit(str(builder.data_dir), "train")


def test_windows_are_exact_slices_with_silence_padding(toy):
  files = {n: _file_codes(n, k) for n, k in ToySet.LENGTHS.items()}
  sampler = pipeline.WindowSampler(pipeline.FlatSplit(toy, "train"), context=400,
                                   num_targets=50, seed=1)
  padded = 0
  for i in range(40):
    w = sampler(i)["codes"]
    assert w.dtype == np.uint8 and w.shape == (450,)
    name, end = _find(w, files, 50)
    assert 50 <= end <= len(files[name])
    padded += end < 450
  assert padded > 0  # some windows reach before a file's start


def test_files_are_drawn_in_proportion_to_length(toy):
  flat = pipeline.FlatSplit(toy, "train")
  sampler = pipeline.WindowSampler(flat, context=16, num_targets=250, seed=0)
  # Tag each draw by its file: the codes right before `end` identify it uniquely.
  draws = {n: 0 for n in ToySet.LENGTHS}
  files = {n: _file_codes(n, k) for n, k in ToySet.LENGTHS.items()}
  for i in range(600):
    draws[_find(sampler(i)["codes"], files, 250)[0]] += 1
  total = sum(ToySet.LENGTHS.values())
  for name, n in ToySet.LENGTHS.items():
    p = n / total
    assert abs(draws[name] / 600 - p) < 4 * np.sqrt(p * (1 - p) / 600), draws


def test_deterministic_by_seed(toy):
  flat = pipeline.FlatSplit(toy, "train")
  a = pipeline.WindowSampler(flat, 100, 20, seed=7)
  b = pipeline.WindowSampler(flat, 100, 20, seed=7)
  c = pipeline.WindowSampler(flat, 100, 20, seed=8)
  assert all(np.array_equal(a(i)["codes"], b(i)["codes"]) for i in range(10))
  assert not all(np.array_equal(a(i)["codes"], c(i)["codes"]) for i in range(10))


def test_sampled_examples_are_one_context_and_its_next_sample(toy):
  files = {n: _file_codes(n, k) for n, k in ToySet.LENGTHS.items()}
  sampler = pipeline.WindowSampler(pipeline.FlatSplit(toy, "train"), 256, 1, seed=2)
  w = sampler(3)["codes"]
  assert w.shape == (257,)
  name, end = _find(w, files, 1)
  assert w[-1] == files[name][end - 1]


def _batches(it, n):
  return [next(it)["codes"] for _ in range(n)]


def test_process_shards_are_disjoint_and_cover_the_stream(toy):
  cfg = pipeline.PipelineConfig(path=toy, context=64, num_targets=8, batch_size=4,
                                seed=3)
  whole = _batches(iter(pipeline.train_dataset(cfg)), 2)
  half = cfg.__class__(**{**cfg.__dict__, "batch_size": 2})
  shards = [_batches(iter(pipeline.train_dataset(half, process_index=p,
                                                 process_count=2)), 2)
            for p in range(2)]
  for step in range(2):
    # Each process holds a contiguous half of every global batch, in order.
    np.testing.assert_array_equal(np.concatenate([shards[0][step], shards[1][step]]),
                                  whole[step])
  # A stream started at example 8 (a resume) is the same stream, two batches on.
  later = iter(pipeline.train_dataset(half, process_index=1, process_count=2,
                                      start_example=8))
  np.testing.assert_array_equal(next(later)["codes"], _batches(iter(
      pipeline.train_dataset(half, process_index=1, process_count=2)), 3)[2])
  with pytest.raises(ValueError, match="process_index=2"):
    pipeline.train_dataset(cfg, process_index=2, process_count=2)


@pytest.mark.parametrize("workers", [0, 2])
def test_iterator_state_restores_exactly(toy, workers):
  cfg = pipeline.PipelineConfig(path=toy, context=64, num_targets=8, batch_size=3,
                                seed=4, worker_count=workers)
  it = iter(pipeline.train_dataset(cfg))
  _batches(it, 5)
  state = it.get_state()
  expected = _batches(it, 4)
  fresh = iter(pipeline.train_dataset(cfg))
  fresh.set_state(state)
  for a, b in zip(expected, _batches(fresh, 4)):
    np.testing.assert_array_equal(a, b)
  # The multi-worker stream is the same stream as the in-process one.
  single = iter(pipeline.train_dataset(cfg.__class__(**{**cfg.__dict__,
                                                        "worker_count": 0})))
  for a, b in zip(_batches(single, 9)[5:], expected):
    np.testing.assert_array_equal(a, b)
  for i in (it, fresh):
    if hasattr(i, "close"):
      i.close()


def test_targets_longer_than_every_file_is_an_error(toy):
  with pytest.raises(ValueError, match="no file .* holds num_targets=5000"):
    pipeline.WindowSampler(pipeline.FlatSplit(toy, "train"), 10, 5000, seed=0)


def test_worker_batches_leave_no_shared_memory_behind(toy):
  # Batches from Grain's worker processes arrive in shared memory; a run that keeps
  # the JAX array of its last batch to the end used to exit with the resource
  # tracker's "leaked shared_memory" warning.
  script = textwrap.dedent(f"""
      import jax.numpy as jnp
      from audiolm_jax.data import pipeline
      if __name__ == "__main__":
        cfg = pipeline.PipelineConfig(path={toy!r}, context=64, num_targets=8,
                                      batch_size=3, seed=4, worker_count=1)
        it = iter(pipeline.train_dataset(cfg))
        kept = [jnp.asarray(next(it)["codes"]) for _ in range(3)]
        it.close()
        print("batches", len(kept), kept[-1].shape)
      """)
  done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                        text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "batches 3 (3, 72)" in done.stdout
  assert "leaked shared_memory" not in done.stderr, done.stderr[-3000:]
