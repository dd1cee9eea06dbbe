"""Evaluation protocols against brute force and constructed cases."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from audiolm_jax.data import quantization
from audiolm_jax.evaluation import protocols as evaluation
from audiolm_jax.evaluation.references import References
from audiolm_jax.models.cnn_transformer import CNNTransformer
from helpers import CONFIGS, chunked, left_context, make_model


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


def test_sashimi_chunks_scale_cut_and_drop_the_remainder():
  n = evaluation.SASHIMI_CHUNK
  t = np.arange(2 * n + 5000)
  audio = np.where(t < n, 0.01, 0.3) * np.sin(t / 7.0) + np.where(t < n, 0.0, 0.1)
  codes = quantization.encode(audio)
  chunks = evaluation.sashimi_chunks(codes)
  assert len(chunks) == 2 and all(len(c) == n for c in chunks)  # 5000 dropped
  for c in chunks:  # each chunk spans the full range after min-max scaling
    assert c.min() == 0 and c.max() >= 254
  # The quiet first chunk and the loud, offset second one look alike once scaled.
  assert abs(np.median(chunks[0].astype(int)) - np.median(chunks[1].astype(int))) <= 2


def test_sashimi_resets_the_context_at_each_chunk(tiny, np_rng, monkeypatch):
  model, params = tiny
  monkeypatch.setattr(evaluation, "SASHIMI_CHUNK", 200)
  files = _files(np_rng, [450])
  scorer = evaluation.Scorer(CNNTransformer(model.config), params, num_targets=64,
                             batch=2)
  refs = References.fit(files[0])
  result = evaluation.evaluate_files(scorer, refs, ["f"], files, "sashimi")
  assert result["units"] == 2 and result["samples"] == 400
  # The chunks, cut and rescaled here by hand (not with sashimi_chunks), each scored
  # by brute force with silence before it: the protocol reset the context.
  audio = quantization.decode(files[0])
  for i, unit in enumerate(result["per_file"]):
    piece = audio[200 * i:200 * (i + 1)].astype(np.float64)
    scaled = -1 + 2 * (piece - piece.min()) / (piece.max() - piece.min() + 1e-6)
    chunk = quantization.encode(scaled)
    alone = _brute_force_bits(model, params, chunk).mean()
    assert unit["nll_bits"] == pytest.approx(alone, rel=2e-5)
    # ... and not what the chunk scores after the previous chunk's audio.
    if i:
      after = _brute_force_bits(model, params, np.concatenate([prev, chunk]))[200:]
      assert abs(after.mean() - alone) > 1e-3
    prev = chunk
  with pytest.raises(ValueError, match="nothing to score"):
    evaluation.evaluate_files(scorer, refs, ["short"], [files[0][:100]], "sashimi")
