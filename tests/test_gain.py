"""Gain augmentation and fixed-gain scoring: the gain lands before quantization."""

import numpy as np
import pytest

from audiolm_jax.data import pipeline, quantization, recipes
from toy_set import ToySet, file_audio


def _amplitude(codes):
  return quantization.decode(codes, "mu_law")


def test_zero_gain_windows_equal_the_plain_codes_windows(toy):
  """Same files, positions and codes: gain (0, 0) from raw audio == the codes flat."""
  plain = pipeline.WindowSampler(pipeline.FlatSplit(toy, "train"), context=300,
                                 num_targets=40, seed=3)
  gained = pipeline.WindowSampler(pipeline.FlatSplit(toy, "train", recipes.RAW),
                                  context=300, num_targets=40, seed=3,
                                  gain_db=(0.0, 0.0), recipe="mu_law")
  for i in range(30):
    np.testing.assert_array_equal(plain(i)["codes"], gained(i)["codes"])


def test_each_window_gets_its_own_seeded_gain_before_quantization(toy):
  raw = pipeline.FlatSplit(toy, "train", recipes.RAW)
  args = dict(context=0, num_targets=200, seed=5, recipe="mu_law")
  gained = pipeline.WindowSampler(raw, gain_db=(-30.0, -6.0), **args)
  plain = pipeline.WindowSampler(raw, **args)  # the same windows as int16
  gains = []
  for i in range(40):
    pcm = plain(i)["codes"]
    assert pcm.dtype == np.int16
    codes = gained(i)["codes"]
    assert codes.dtype == np.uint8
    np.testing.assert_array_equal(codes, gained(i)["codes"])  # a function of i
    # The amplitude ratio recovers the window's gain (mu-law keeps relative error).
    loud = np.abs(recipes.from_pcm16(pcm)) > 0.05
    g = np.median(_amplitude(codes)[loud] / recipes.from_pcm16(pcm)[loud])
    gains.append(20 * np.log10(g))
  gains = np.asarray(gains)
  assert gains.min() >= -30.5 and gains.max() <= -5.5
  assert gains.std() > 4  # drawn anew per window, not one gain for all


def test_stream_rows_keep_one_gain_per_file(toy):
  raw = pipeline.FlatSplit(toy, "train", recipes.RAW)
  sampler = pipeline.StreamSampler(raw, context=0, num_targets=100, seed=0, rows=2,
                                   gain_db=(-20.0, 0.0), recipe="mu_law")
  plain = pipeline.StreamSampler(raw, context=0, num_targets=100, seed=0, rows=2)
  per_file, current = [], []
  for step in range(40):
    ex, pcm = sampler(step * 2), plain(step * 2)["codes"]  # row 0
    if ex["reset"] and current:
      per_file.append(current)
      current = []
    loud = np.abs(recipes.from_pcm16(pcm)) > 0.05
    current.append(np.median(_amplitude(ex["codes"])[loud]
                             / recipes.from_pcm16(pcm)[loud]))
  per_file.append(current)
  assert len(per_file) >= 2
  for gains in per_file:
    np.testing.assert_allclose(gains, gains[0], rtol=0.03)
  assert len({round(g[0], 2) for g in per_file}) > 1


def test_gain_needs_raw_audio_and_a_per_sample_recipe(toy):
  with pytest.raises(ValueError, match="reads the raw audio"):
    pipeline.WindowSampler(pipeline.FlatSplit(toy, "train"), 10, 10, 0,
                           gain_db=(-6.0, 0.0))
  with pytest.raises(ValueError, match="changes nothing"):
    pipeline.WindowSampler(pipeline.FlatSplit(toy, "train", recipes.RAW), 10, 10, 0,
                           gain_db=(-6.0, 0.0), recipe="sashimi")


def test_config_refuses_bad_gain_ranges():
  from audiolm_jax.training import config as train_config
  from audiolm_jax.training import config_loader
  from test_train import CONFIG
  c = config_loader.load_config_file(CONFIG + ":tiny")
  c.data.gain_db = (-6.0, -12.0)
  with pytest.raises(ValueError, match="gain_db"):
    train_config.checked_model(c, 1)
  c.data.gain_db = (-12.0, 0.0)
  c.data.recipe = "sashimi"
  with pytest.raises(ValueError, match="changes nothing"):
    train_config.checked_model(c, 1)
  c.data.recipe = "mu_law"
  train_config.checked_model(c, 1)


def test_a_fixed_gain_flat_holds_the_codes_of_the_scaled_audio(toy):
  flat = pipeline.FlatSplit(toy, "train", "mu_law", gain_db=-12.0)
  for i, name in enumerate(flat.names):
    audio = recipes.from_pcm16(file_audio(name, ToySet.LENGTHS[name]))
    want = quantization.encode(audio * np.float32(10 ** (-12 / 20)), "mu_law")
    np.testing.assert_array_equal(np.asarray(flat.file(i)), want)
  # +12 dB clips as a louder recording would.
  loud = pipeline.FlatSplit(toy, "train", "mu_law", gain_db=12.0)
  assert np.mean(np.isin(np.asarray(loud.codes), (0, 255))) > 0.3
