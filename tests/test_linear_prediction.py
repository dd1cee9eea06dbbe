"""The linear-prediction reference: its vectorized blocks against a per-block loop
written from the definition, causality, normalization, and that it predicts
resonant audio far better than the previous sample does."""

import numpy as np
import pytest
from scipy.linalg import solve_toeplitz

from audiolm_jax.data import quantization, recipes
from audiolm_jax.evaluation.linear_prediction import LinearPredictor, levinson
from audiolm_jax.evaluation.references import References


def _piano_like(rng, n, rate=16_000):
  """Decaying partials of two random notes, at a random level, and a little noise."""
  t = np.arange(n) / rate
  audio = np.zeros(n)
  for f0 in rng.uniform(110, 440, 2):
    for k in range(1, 6):
      audio += (rng.uniform(0.2, 1) / k * np.exp(-t * rng.uniform(0.5, 3))
                * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)))
  audio = audio / np.abs(audio).max() * rng.uniform(0.05, 0.8)
  return audio + 1e-3 * rng.normal(size=n)


def _codes(audio, kind="mu_law"):
  return quantization.encode(np.clip(audio, -1, 1), kind)


def _slow(lp: LinearPredictor, codes, first):
  """(bits, predicted amplitudes) one block at a time, from the module's docstring,
  with SciPy's Toeplitz solver."""
  table = quantization.decode_table(lp.kind).astype(np.float64)
  p, w = lp.order, lp.window
  x = np.concatenate([np.zeros(w + p), table[codes]])  # silence decodes to 0.0
  edges = np.concatenate([[-np.inf], (table[1:] + table[:-1]) / 2, [np.inf]])
  out, means = [], []
  for s in range(first, len(codes), lp.block):
    hist = x[s:s + w + p]                               # positions s - w - p .. s - 1
    seg = hist[p:] * np.hanning(w)
    r = np.array([seg[k:] @ seg[:w - k] for k in range(p + 1)])
    r *= np.exp(-0.5 * (2 * np.pi * 40 / 16_000 * np.arange(p + 1)) ** 2)
    r[0] *= 1 + 1e-4
    a = solve_toeplitz(r[:p], r[1:]) if r[0] > 0 else np.zeros(p)
    res = [hist[p + j] - a @ hist[p + j - 1::-1][:p] for j in range(w)]
    scale = max(np.median(np.abs(res)) / np.log(3), 1e-6)
    for t in range(s, min(s + lp.block, len(codes))):
      mean = a @ x[t + w + p - 1::-1][:p]                 # positions t - 1, t - 2, ...
      c = codes[t]
      cdf = lambda e: 0.5 + 0.5 * np.tanh((e - mean) / scale / 2)  # noqa: E731
      mass = cdf(edges[c + 1]) - cdf(edges[c])
      out.append(-np.log2((1 - lp.floor) * mass + lp.floor / 256))
      means.append(mean)
  return np.array(out), np.array(means)


@pytest.mark.parametrize("kind,first,n", [("mu_law", 0, 1_700), ("linear", 333, 1_234)])
def test_blocks_match_a_loop_written_from_the_definition(np_rng, kind, first, n):
  lp = LinearPredictor(kind=kind, order=12, window=300, block=100)
  codes = _codes(_piano_like(np_rng, n), kind)
  got = lp.bits(codes, first)
  assert got.shape == (n - first,)
  bits, means = _slow(lp, codes, first)
  np.testing.assert_allclose(got, bits, rtol=1e-7, atol=1e-9)
  predictions = lp.predictions(codes, first)
  np.testing.assert_allclose(predictions, means, rtol=1e-7, atol=1e-12)
  # The centres predict the waveform (resonant audio), not just anything finite.
  truth = quantization.decode(codes, kind)[first:]
  assert np.mean((truth - predictions) ** 2) < 0.05 * np.var(truth)


def test_levinson_solves_the_normal_equations(np_rng):
  lp = LinearPredictor()
  segments = np.cumsum(np_rng.normal(size=(3, 1000)), axis=1)
  r = lp._autocorrelation(segments)
  a = levinson(np.concatenate([r, np.zeros((1, 33))]), 32)
  for i in range(3):
    np.testing.assert_allclose(a[i], solve_toeplitz(r[i, :32], r[i, 1:]), rtol=1e-8)
  assert not a[3].any()  # an all-silent window predicts silence


def test_a_position_is_scored_from_its_past_only(np_rng):
  lp = LinearPredictor(order=16, window=400, block=150)
  codes = _codes(_piano_like(np_rng, 2_000))
  before = lp.bits(codes)
  for t in (0, 149, 150, 777, 1_999):
    changed = codes.copy()
    changed[t] = (int(changed[t]) + 97) % 256
    after = lp.bits(changed)
    np.testing.assert_array_equal(after[:t], before[:t])
    assert (after[t:] != before[t:]).any()  # and it is scored: here or after


def test_the_distribution_sums_to_one(np_rng):
  lp = LinearPredictor()
  table = quantization.decode_table("mu_law").astype(np.float64)
  prediction = np_rng.uniform(-1.2, 1.2, size=(5, 1))
  scale = np_rng.uniform(1e-5, 0.3, size=(5, 1))
  p = 2.0 ** lp.log2_prob(prediction, scale, np.arange(256)[None, :], table)
  np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
  assert (p >= lp.floor / 256 * (1 - 1e-12)).all()


def test_resonant_audio_scores_far_below_the_previous_sample(np_rng):
  """What makes it the strong reference: partials are linearly predictable."""
  codes = _codes(_piano_like(np_rng, 16_000))
  refs = References.fit(codes)
  bits = refs.sequence_bits(codes, first=2_000)
  assert bits["linear_prediction"].mean() < 0.7 * bits["previous_sample"].mean()
  # White noise has nothing to predict: no better than the histogram.
  noise = recipes.codes(recipes.to_pcm16(0.3 * np_rng.uniform(-1, 1, 16_000)),
                        "mu_law")
  bits = References.fit(noise).sequence_bits(noise, first=2_000)
  assert bits["linear_prediction"].mean() > bits["marginal"].mean() - 0.05


def test_sequence_bits_scores_each_position_given_its_past(np_rng):
  codes = _codes(_piano_like(np_rng, 3_000))
  refs = References.fit(codes[:1_000])
  got = refs.sequence_bits(codes, first=1_200)
  prev = codes[1_199:-1]
  want = refs.nll_bits(codes[1_200:], prev)
  for k in ("marginal", "previous_sample"):
    np.testing.assert_array_equal(got[k], want[k])
  np.testing.assert_array_equal(got["linear_prediction"],
                                refs.linear.bits(codes, 1_200))
  # From the start: silence before the first code.
  first = refs.sequence_bits(codes[:10])["previous_sample"][0]
  assert first == refs.nll_bits(codes[:1], np.array([128]))["previous_sample"][0]
  assert all(len(v) == 0 for v in refs.sequence_bits(codes[:0]).values())


def test_single_positions_score_as_their_own_blocks(np_rng):
  codes = _codes(_piano_like(np_rng, 3_000))
  refs = References.fit(codes[:1_000])
  positions = np.array([0, 1, 17, 1_031, 1_032, 2_999, 17])
  got = refs.position_bits(codes, positions)
  for i, t in enumerate(positions):
    want = refs.sequence_bits(codes[:t + 1], t)
    for k, v in want.items():
      assert got[k][i] == pytest.approx(v[0], rel=1e-12), (k, t)


@pytest.mark.parametrize("kwargs,match", [({"order": 0}, "order"),
                                          ({"order": 50, "window": 50}, "window"),
                                          ({"floor": 0.0}, "floor"),
                                          ({"kind": "alaw"}, "alaw")])
def test_bad_settings_are_refused(kwargs, match):
  with pytest.raises(ValueError, match=match):
    LinearPredictor(**kwargs)


def test_log2_probs_are_the_distributions_bits_scores(np_rng):
  from helpers import random_codes  # pylint: disable=g-import-not-at-top
  codes = np.asarray(random_codes(np_rng, 1, 1300)[0])
  predictor = LinearPredictor()
  every = predictor.log2_probs(codes)
  assert every.shape == (1300, 256)
  np.testing.assert_allclose(np.exp2(every).sum(axis=1), 1.0, atol=1e-9)
  np.testing.assert_allclose(-every[np.arange(1300), codes], predictor.bits(codes),
                             rtol=1e-12)
