"""A model's predictive spread along a stream, and the flatness it implies."""

import jax
import numpy as np
import pytest
from scipy import signal

from audiolm_jax import models
from audiolm_jax.data import quantization
from audiolm_jax.evaluation.linear_prediction import LinearPredictor
from audiolm_jax.generation import sampler, spectrum, uncertainty
from helpers import CONFIGS, init_trained_like, make_family, random_codes

SR = 16_000


def _ar2(rng, seconds, hz, radius, sigma):
  """A resonance driven by white noise of std sigma: x_t = a1 x_t-1 + a2 x_t-2 + e_t
  (one second of burn-in dropped), whose one-step prediction error is e_t."""
  a = [1.0, -2 * radius * np.cos(2 * np.pi * hz / SR), radius ** 2]
  e = rng.normal(0, sigma, int((seconds + 1) * SR))
  return signal.lfilter([1.0], a, e)[SR:]


@pytest.mark.parametrize("hz,radius,sigma", [(440, 0.995, 1e-3), (2500, 0.9, 1e-2),
                                             (150, 0.999, 1e-4)])
def test_floor_is_the_flatness_of_a_process_with_that_prediction_error(
    np_rng, hz, radius, sigma):
  """Kolmogorov-Szego: a stationary process's flatness is e^-gamma times its one-step
  prediction error variance over its power, whether broad or sharply resonant."""
  x = _ar2(np_rng, 4.0, hz, radius, sigma)
  measured = float(np.median(spectrum.frame_flatness(x)))
  floor = uncertainty.flatness_floor(x, np.full(x.shape, sigma ** 2))
  assert floor == pytest.approx(measured, rel=0.2)
  assert floor < 0.3  # resonant: below white noise's 0.56


def test_floor_of_white_noise_and_of_a_tone_in_noise(np_rng):
  noise = np_rng.normal(0, 0.05, 4 * SR)
  assert uncertainty.flatness_floor(noise, np.full(noise.shape, 0.05 ** 2)) == (
      pytest.approx(float(np.median(spectrum.frame_flatness(noise))), rel=0.1))
  assert uncertainty.flatness_floor(noise, np.full(noise.shape, 0.05 ** 2)) == (
      pytest.approx(uncertainty.NOISE_FLATNESS, rel=0.05))
  # A piano-like prompt: partials plus a noise floor 40 dB down; only the noise is
  # unpredictable. The Hann window's leakage around the partials adds to what the
  # noise gives, so the measured flatness lies above the floor, by less than 2.5x.
  t = np.arange(4 * SR) / SR
  tone = sum(0.1 / k * np.sin(2 * np.pi * 220 * k * t + k) for k in range(1, 6))
  hiss = np_rng.normal(0, 1e-3, t.size)
  measured = float(np.median(spectrum.frame_flatness(tone + hiss)))
  assert measured < 1e-3
  floor = uncertainty.flatness_floor(tone + hiss, np.full(t.size, 1e-6))
  assert floor < measured < 2.5 * floor


def test_floor_refuses_mismatched_or_short_input():
  with pytest.raises(ValueError, match="differ"):
    uncertainty.flatness_floor(np.ones(2048), np.ones(2000))
  with pytest.raises(ValueError, match="no 64 ms frame"):
    uncertainty.flatness_floor(np.ones(1000), np.ones(1000))
  assert uncertainty.flatness_floor(np.zeros(2048), np.ones(2048)) == float("inf")


def _incremental_moments(model, params, codes_T, first, options):
  """The same variances, and squared errors of the mean against the true code, from
  the sampler's incremental path: prime on the first codes, then the distribution of
  each next code, the true code pushed."""
  table = quantization.decode_table(model.quantization).astype(np.float64)
  state = model.prime(params, codes_T[None, :first])
  next_logits = jax.jit(lambda s: model.next_logits(params, s))
  push = jax.jit(lambda s, c: model.push(params, s, c))
  out = []
  for t in range(first, codes_T.size):
    logits = sampler.sampling_logits(next_logits(state), options.temperature,
                                     options.top_p)
    p = np.asarray(jax.nn.softmax(logits, axis=-1), np.float64)[0]
    out.append((p @ table ** 2 - (p @ table) ** 2, (table[codes_T[t]] - p @ table) ** 2))
    state = push(state, codes_T[None, t])
  return np.array(out).T


@pytest.mark.parametrize("family", ["cnn_transformer", "local", "samplernn", "sashimi"])
def test_predictive_variance_is_the_sampled_distributions(np_rng, family):
  """Windows (bounded), carried segments (SampleRNN) and one pass (SaShiMi) give
  each position the distribution the incremental sampler draws it from."""
  if family in ("cnn_transformer", "local"):
    model, params = make_family(CONFIGS["tiny" if family == "cnn_transformer"
                                        else "local"], seed=4)
  else:
    small = {"samplernn": dict(hidden=24, embedding_dim=8),
             "sashimi": dict(d_model=8, n_layers=2, state_size=8)}[family]
    model = models.build(family, **small)
    params = init_trained_like(model, 4)
  codes = np.asarray(random_codes(np_rng, 1, 300)[0], np.uint8)
  options = sampler.SamplingOptions(temperature=0.8, top_p=0.9)
  # Small windows and segments: the 300 positions cross several of them.
  ((variance, error),) = uncertainty.predictive_moments(model, params, [codes], options,
                                                        num_targets=64)
  assert variance.shape == error.shape == (300,)
  expect_variance, expect_error = _incremental_moments(model, params, codes, 37, options)
  np.testing.assert_allclose(variance[37:], expect_variance, rtol=2e-3, atol=1e-7)
  np.testing.assert_allclose(error[37:], expect_error, rtol=2e-3, atol=1e-7)
  assert np.all(variance > 0)
  # Position t's error is against code t, not a neighbour's.
  assert not np.allclose(error[38:], expect_error[:-1], rtol=0.1)
  # Much sharper sampling, smaller spread; greedy, none. (A mild temperature with
  # top-p need not shrink it: mass can move to two distant modes.)
  (plain,) = uncertainty.predictive_variance(model, params, [codes], num_targets=64)
  (sharp,) = uncertainty.predictive_variance(
      model, params, [codes], sampler.SamplingOptions(temperature=0.1), num_targets=64)
  assert np.mean(sharp) < 0.5 * np.mean(plain)
  (greedy,) = uncertainty.predictive_variance(
      model, params, [codes], sampler.SamplingOptions(temperature=0.0), num_targets=64)
  np.testing.assert_array_equal(greedy, 0.0)


def test_a_sampled_stream_is_as_flat_as_its_floor():
  """What the floor is for: a stream drawn at T = 1 has the flatness its model's
  spread along it implies (to within the spread of a few frames' medians)."""
  model, params = make_family(CONFIGS["tiny"], seed=2)
  prompt = random_codes(np.random.default_rng(0), 1, 400)
  codes = sampler.generate(model, params, jax.random.key(5), num_samples=6 * 1024,
                           prompt_BxP=prompt, block=1024)
  stream = np.concatenate([np.asarray(prompt[0]), codes[0]]).astype(np.uint8)
  (report,) = uncertainty.describe(model, params, [stream], 400)
  measured = float(np.median(spectrum.frame_flatness(
      quantization.decode(stream[400:], model.quantization))))
  assert report["flatness_floor"] == pytest.approx(measured, rel=0.3)
  assert np.isfinite(report["predictive_rms_dbfs"])
  # Drawn from the distributions scored, the stream misses their means by exactly
  # their spread, on average: calibration by construction.
  assert report["error_rms_dbfs"] == pytest.approx(report["predictive_rms_dbfs"],
                                                   abs=0.3)
  assert report["error_floor"] == pytest.approx(report["flatness_floor"], rel=0.15)


def test_linear_prediction_error_is_the_references_miss(np_rng):
  """The reference's squared error over a stretch: its predictions against the
  decoded codes; near zero floor on a pure resonance, near white noise's on noise."""
  t = np.arange(12_000)
  tone = quantization.encode(0.4 * np.sin(2 * np.pi * 441 / 16_000 * t)
                             * np.exp(-t / 20_000), "mu_law")
  got = uncertainty.linear_prediction_error(tone, 4_000)
  audio = quantization.decode(tone, "mu_law")
  error = np.square(audio[4_000:] - LinearPredictor().predictions(tone, 4_000))
  assert got["error_rms_dbfs"] == pytest.approx(10 * np.log10(np.mean(error)))
  assert got["error_floor"] == uncertainty.flatness_floor(audio[4_000:], error)
  noise = quantization.encode(np.clip(0.2 * np_rng.standard_normal(12_000), -1, 1),
                              "mu_law")
  white = uncertainty.linear_prediction_error(noise, 4_000)
  # A resonance is predicted to well below its quantization noise's share; white noise
  # not at all (its floor is white noise's flatness, up to the weights' estimation).
  assert got["error_floor"] < 0.01
  assert white["error_floor"] == pytest.approx(uncertainty.NOISE_FLATNESS, rel=0.2)
