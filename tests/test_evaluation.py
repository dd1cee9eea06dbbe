"""Evaluation protocols against brute force and constructed cases."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from audiolm_jax.data import quantization, recipes
from audiolm_jax.evaluation import intervals, protocols as evaluation, units
from audiolm_jax.evaluation.references import References
from audiolm_jax.models.cnn_transformer import CNNTransformer
from audiolm_jax.models import token_context
from helpers import CONFIGS, chunked, left_context, make_model, random_codes


@pytest.fixture(scope="module")
def tiny():
  return make_model(CONFIGS["tiny"], seed=2)


def _files(rng, lengths):
  return [np.clip(128 + np.cumsum(rng.normal(0, 4, n)), 0, 255).astype(np.uint8)
          for n in lengths]


def _brute_force_bits(model, params, codes):
  """NLL bits of every position of one file through the chunked path, one context
  (silence before the file) per target: no Scorer code involved."""
  row = jnp.asarray(codes[None], jnp.int32)
  contexts = jnp.concatenate([left_context(row, t, model.config.context)
                              for t in range(len(codes))])
  logits = chunked(model, params, contexts)
  return np.asarray(optax.softmax_cross_entropy_with_integer_labels(
      logits, jnp.asarray(codes, jnp.int32)) / np.log(2))


def test_full_protocol_equals_a_brute_force_chunked_loop(tiny, np_rng):
  model, params = tiny
  files = _files(np_rng, [300, 45, 513])
  scorer = evaluation.Scorer(CNNTransformer(model.config), params, num_targets=64,
                             batch=3)
  got = scorer.score_files(files)
  for codes, nll in zip(files, got):
    assert nll.shape == codes.shape
    np.testing.assert_allclose(nll, _brute_force_bits(model, params, codes),
                               rtol=2e-5, atol=2e-5)


def test_sampled_protocol_equals_a_brute_force_loop_over_its_positions(tiny, np_rng):
  """Each drawn position scored through the chunked path from its own silence-padded
  context, and each reference predictor as the whole file's computation started at
  that position (`sequence_bits(codes, t)[0]`: linear prediction refitted there):
  the protocol's per-file and overall means, whatever order it builds contexts and
  regroups the references in. An off-by-one context moves the trained-like model's
  NLL far beyond the tolerance."""
  model, params = tiny
  files = _files(np_rng, [700, 90, 1300])
  refs = References.fit(np.concatenate(files))
  scorer = evaluation.Scorer(CNNTransformer(model.config), params, batch=3)
  got = evaluation.evaluate_files(scorer, refs, ["a", "b", "c"], files, "sampled",
                                  num_positions=300, seed=5)
  file_index, position = evaluation.sampled_positions([700, 90, 1300], 300, 5)
  assert got["samples"] == 300 and len(set(file_index)) == 3
  brute = [_brute_force_bits(model, params, codes) for codes in files]
  nll = np.array([brute[f][p] for f, p in zip(file_index, position)])
  ref = [{k: v[0] for k, v in refs.sequence_bits(files[f], p).items()}
         for f, p in zip(file_index, position)]
  assert got["nll_bits"] == pytest.approx(nll.mean(), rel=1e-5)
  for k in ref[0]:
    want = np.mean([r[k] for r in ref])
    assert got["references"][k] == pytest.approx(want, rel=1e-9), k
  for f, row in enumerate(got["per_file"]):
    mask = file_index == f
    assert row["samples"] == mask.sum()
    assert row["nll_bits"] == pytest.approx(brute[f][position[mask]].mean(), rel=1e-5)
    assert row["linear_prediction_bits"] == pytest.approx(
        np.mean([r["linear_prediction"] for r, m in zip(ref, mask) if m]), rel=1e-9)


def _histogram_model(tiny, probs):
  """The tiny model with its head rewired to output log(probs) whatever the input."""
  model, params = tiny
  params = jax.tree.map(lambda x: x, params)
  head = dict(params["head"])
  head["logits"] = {"kernel": jnp.zeros_like(head["logits"]["kernel"]),
                    "bias": jnp.log(jnp.asarray(probs, jnp.float32))}
  return model, {**params, "head": head}


def test_a_histogram_model_scores_the_histogram_entropy(tiny, np_rng):
  probs = np_rng.dirichlet(np.full(256, 0.3))
  model, params = _histogram_model(tiny, probs)
  files = [np_rng.choice(256, n, p=probs).astype(np.uint8) for n in (4000, 3000)]
  refs = References.fit(np.concatenate(files))
  scorer = evaluation.Scorer(CNNTransformer(model.config), params, num_targets=512)
  result = evaluation.evaluate_files(scorer,
                                     refs, ["a", "b"], files, "full")
  entropy = -np.sum(probs * np.log2(probs))
  assert result["samples"] == 7000 and result["units"] == 2
  assert result["nll_bits"] == pytest.approx(entropy, abs=0.1)
  # The fitted marginal is the same histogram (add-one smoothed): it scores the same.
  assert result["references"]["marginal"] == pytest.approx(result["nll_bits"], abs=0.1)
  sampled = evaluation.evaluate_files(evaluation.Scorer(scorer.model, params), refs,
                                      ["a", "b"], files, "sampled", num_positions=500)
  assert sampled["samples"] == 500
  assert sampled["nll_bits"] == pytest.approx(entropy, abs=0.35)


def _s4_mu_law_encode(chunk_f32):
  """s4's `mu_law_encode` (src/dataloaders/audio.py) transcribed line by line in
  float32, as torch computes it: minmax_scale(-1, 1) with its 1e-6, log1p of
  255 |x + 1e-8|, shift to [0, 1], quantize with epsilon 0.01, .long()."""
  x = chunk_f32.astype(np.float32)
  mn, mx = np.amin(x), np.amax(x)
  x = np.float32(-1) + np.float32(1 - (-1)) * (x - mn) / (mx - mn + np.float32(1e-6))
  numerator = np.log1p(np.float32(255) * np.abs(x + np.float32(1e-8)))
  encoded = np.sign(x) * (numerator / np.log1p(np.float32(255)))
  encoded = (encoded + np.float32(1)) / np.float32(2)
  encoded = encoded * np.float32(256 - 0.01)
  encoded = encoded + np.float32(0.01 / 2)
  return np.trunc(encoded).astype(np.int64)


def test_sashimi_recipe_equals_s4s_formula_on_random_audio(np_rng):
  n = recipes.SASHIMI_CHUNK
  # Random audio of changing level and offset: a quiet chunk, a loud offset one,
  # and a 5,000-sample tail.
  gain = np.repeat([0.01, 0.6, 0.2], [n, n, 5000])
  pcm = recipes.to_pcm16(gain * np.tanh(np_rng.normal(size=2 * n + 5000))
                         + np.repeat([0.0, 0.2, -0.1], [n, n, 5000]))
  codes = recipes.codes(pcm, "sashimi")
  audio = pcm.astype(np.float32) / 32768  # torchaudio's loading of 16-bit PCM
  for start in (0, n, 2 * n):
    want = _s4_mu_law_encode(audio[start:start + n])
    np.testing.assert_array_equal(codes[start:start + n], want)
    assert codes[start:start + n].min() == 0 and codes[start:start + n].max() >= 254
  # In float64 the same formula agrees except within rounding of a level boundary.
  x = audio[n:2 * n].astype(np.float64)
  x = -1 + 2 * (x - x.min()) / (x.max() - x.min() + 1e-6)
  v = (np.sign(x) * np.log1p(255 * np.abs(x + 1e-8)) / np.log1p(255) + 1) / 2
  v = v * 255.99 + 0.005
  clear = np.abs(v - np.round(v)) > 1e-4
  np.testing.assert_array_equal(codes[n:2 * n][clear], np.floor(v[clear]))
  # Not the plain mu-law codes of the same audio: the scaling changed most codes.
  assert np.mean(codes != recipes.codes(pcm, "mu_law")) > 0.5


def test_a_histogram_model_scores_its_cross_entropy_on_sashimi_chunks(tiny, np_rng):
  n = recipes.SASHIMI_CHUNK
  probs = np_rng.dirichlet(np.full(256, 0.5))
  model, params = _histogram_model(tiny, probs)
  pcm = recipes.to_pcm16(0.3 * np.tanh(np_rng.normal(size=2 * n + 777)))
  codes = recipes.codes(pcm, "sashimi")
  scorer = evaluation.Scorer(CNNTransformer(model.config), params, num_targets=8192,
                             batch=4)
  refs = References.fit(codes)
  result = evaluation.evaluate_files(scorer, refs, ["f"], [codes], "sashimi",
                                     recipe="sashimi")
  assert result["units"] == 2 and result["samples"] == 2 * n  # the tail dropped
  log_p = np.log(probs.astype(np.float32)) - np.log(np.sum(probs.astype(np.float32)))
  want = -np.mean(log_p[codes[:2 * n]]) / np.log(2)
  assert result["nll_bits"] == pytest.approx(want, rel=1e-5)
  with pytest.raises(ValueError, match="recipe=sashimi"):
    evaluation.evaluate_files(scorer, refs, ["f"], [codes], "sashimi", recipe="mu_law")


def test_sashimi_resets_the_context_at_each_chunk(tiny, np_rng, monkeypatch):
  model, params = tiny
  monkeypatch.setattr(units, "SASHIMI_CHUNK", 200)
  files = _files(np_rng, [450])
  scorer = evaluation.Scorer(CNNTransformer(model.config), params, num_targets=64,
                             batch=2)
  refs = References.fit(files[0])
  result = evaluation.evaluate_files(scorer, refs, ["f"], files, "sashimi",
                                     recipe="sashimi")
  assert result["units"] == 2 and result["samples"] == 400
  # Each chunk scored by brute force with silence before it: the protocol reset the
  # context ...
  for i, unit in enumerate(result["per_file"]):
    chunk = files[0][200 * i:200 * (i + 1)]
    alone = _brute_force_bits(model, params, chunk).mean()
    assert unit["nll_bits"] == pytest.approx(alone, rel=2e-5)
    if i:  # ... and not what the chunk scores after the previous chunk's codes.
      after = _brute_force_bits(model, params, files[0][:400])[200:]
      assert abs(after.mean() - alone) > 1e-3
  with pytest.raises(ValueError, match="nothing to score"):
    evaluation.evaluate_files(scorer, refs, ["short"], [files[0][:100]], "sashimi",
                              recipe="sashimi")


def test_full_reports_one_quantity_the_sample_weighted_mean(tiny, np_rng):
  model, params = tiny
  files = _files(np_rng, [900, 40, 500, 260])
  scorer = evaluation.Scorer(CNNTransformer(model.config), params, num_targets=128)
  result = evaluation.evaluate_files(scorer, References.fit(files[0]),
                                     list("abcd"), files, "full")
  per_sample = scorer.score_files(files)
  sums = np.array([x.sum(dtype=np.float64) for x in per_sample])
  counts = np.array([len(f) for f in files])
  assert result["nll_bits"] == pytest.approx(sums.sum() / counts.sum(), rel=1e-6)
  # Its interval is the ratio estimator's, here written out by hand.
  r = sums.sum() / counts.sum()
  se = np.sqrt(4 / 3 * np.sum((sums - r * counts) ** 2)) / counts.sum()
  assert result["ci95_bits"] == pytest.approx(1.96 * se, rel=1e-9)
  # With equal counts it is the usual interval of the unit means.
  means = np_rng.normal(5, 1, 6)
  assert intervals.ratio_ci95(means * 100, np.full(6, 100)) == pytest.approx(
      1.96 * means.std(ddof=1) / np.sqrt(6))


@pytest.mark.parametrize("protocol", ["full", "sashimi"])
def test_reference_summary_is_what_a_model_evaluation_reports(tiny, np_rng,
                                                              monkeypatch, protocol):
  # The references alone (to fill in results scored before a predictor existed)
  # equal those of a real evaluation, on the same samples: capped files, chunks,
  # and the short-past split.
  model, params = tiny
  monkeypatch.setattr(units, "SASHIMI_CHUNK", 200)
  files = _files(np_rng, [700, 450, 90])
  refs = References.fit(_files(np_rng, [2000])[0])
  scorer = evaluation.Scorer(CNNTransformer(model.config), params, num_targets=128)
  want = evaluation.evaluate_files(scorer, refs, list("abc"), files, protocol,
                                   recipe="sashimi", max_samples_per_file=600,
                                   short_past=150)
  got = evaluation.reference_summary(refs, list("abc"), files, protocol,
                                     max_samples_per_file=600, short_past=150)
  assert set(want["references"]) == {"marginal", "previous_sample",
                                     "linear_prediction"}
  assert got["references"] == want["references"]
  assert (got["samples"], got["units"]) == (want["samples"], want["units"])
  assert want["samples"] == (600 + 450 + 90 if protocol == "full" else 5 * 200)
  for part in ("short", "rest"):
    assert got["short_past"][part]["references"] == (
        want["short_past"][part]["references"])
    assert got["short_past"][part]["count"] == want["short_past"][part]["count"]
  with pytest.raises(ValueError, match="sampled positions"):
    evaluation.reference_summary(refs, ["a"], files[:1], "sampled")


@pytest.mark.parametrize("name", ["tiny", "local"])
def test_truncated_context_equals_the_chunked_path_on_silenced_contexts(name, np_rng):
  # Encode-once-and-swap must give what the paper's path gives when the older chunks
  # really are silence: an independent brute force through chunked_logits.
  model, params = make_model(CONFIGS[name], seed=2)
  cfg = model.config
  contexts = np.asarray(random_codes(np_rng, 7, cfg.context), np.uint8)
  targets = np_rng.integers(0, 256, 7).astype(np.uint8)
  got = token_context.truncated_context_bits(
      CNNTransformer(cfg), params, contexts, targets, range(1, cfg.num_tokens + 1),
      batch=3)
  for n, bits in got.items():
    seen = contexts.copy()
    seen[:, :cfg.context - n * cfg.chunk_size] = quantization.silence_code(cfg.quantization)
    logits = chunked(model, params, jnp.asarray(seen, jnp.int32))
    want = optax.softmax_cross_entropy_with_integer_labels(
        logits, jnp.asarray(targets, jnp.int32)) / np.log(2)
    np.testing.assert_allclose(bits, want, rtol=2e-5, atol=2e-5)
  # The silenced chunks matter: fewer tokens give different numbers.
  assert not np.allclose(got[1], got[cfg.num_tokens])


def test_truncated_context_refuses_more_tokens_than_the_model_reads(tiny, np_rng):
  model, params = tiny
  cfg = model.config
  contexts = np.asarray(random_codes(np_rng, 2, cfg.context), np.uint8)
  with pytest.raises(ValueError, match="reads 1 to"):
    token_context.truncated_context_bits(CNNTransformer(cfg), params, contexts,
                                      np.array([1, 2], np.uint8),
                                      [cfg.num_tokens + 1])


def test_truncated_context_draws_shared_positions_and_refuses_other_families(np_rng):
  from audiolm_jax import models  # pylint: disable=g-import-not-at-top
  from audiolm_jax.study import truncation  # pylint: disable=g-import-not-at-top
  model, params = make_model(CONFIGS["tiny"], seed=4)
  family = CNNTransformer(model.config)
  files = [np.asarray(random_codes(np_rng, 1, n)[0], np.uint8) for n in (400, 700)]
  got = truncation.TruncatedContext((1, 2, 4), num_positions=40, batch=8).run(
      family, params, files)
  assert sorted(got) == [1, 2, 4] and got[4]["positions"] == 40
  assert {"nll_bits", "ci95_bits", "interval", "samples", "units",
          "references"} <= set(got[1])  # the one result schema
  assert got[4]["minus_longest_bits"] == 0.0  # paired with itself
  assert got[1]["nll_bits"] == pytest.approx(got[4]["nll_bits"]
                                             + got[1]["minus_longest_bits"])
  wavenet = models.build("wavenet", layers=2, blocks=1, residual_channels=4,
                         dilation_channels=4, skip_channels=4, end_channels=4,
                         embedding_dim=4)
  with pytest.raises(ValueError, match="sequence of chunk tokens"):
    truncation.truncated_context(wavenet, None, files, [1])
