"""Paired comparison of two evaluate results: the numbers, the checks, the CLI."""

import json

import numpy as np
import pytest

from audiolm_jax import compare as compare_cli
from audiolm_jax.evaluation import intervals, paired, protocols
from audiolm_jax.evaluation.references import References
from audiolm_jax.models.cnn_transformer import CNNTransformer
from helpers import CONFIGS, make_model


def _result(rng, names, samples, shift=0.0, **fields):
  bits = rng.uniform(2, 6, len(names))
  return {"protocol": "full", "recipe": "mu_law", "split": "test",
          "max_seconds_per_file": 2.0, "gain_db": 0.0, "workdir": "/runs/x", "step": 7,
          "per_file": [{"name": n, "samples": int(k), "nll_bits": float(b + shift),
                        "linear_prediction_bits": float(b + 0.5)}
                       for n, k, b in zip(names, samples, bits)], **fields}


def test_difference_is_sample_weighted_and_its_interval_paired(np_rng):
  names, samples = [f"f{i}" for i in range(6)], np_rng.integers(100, 5000, 6)
  a, b = _result(np_rng, names, samples), _result(np_rng, names, samples)
  r = paired.paired(a, b)
  bits_a = np.array([u["nll_bits"] for u in a["per_file"]])
  bits_b = np.array([u["nll_bits"] for u in b["per_file"]])
  assert r["a_bits"] == pytest.approx(np.sum(samples * bits_a) / samples.sum())
  assert r["difference_bits"] == pytest.approx(r["a_bits"] - r["b_bits"])
  assert r["ci95_bits"] == pytest.approx(
      intervals.ratio_ci95(samples * (bits_a - bits_b), samples))
  assert r["a_lower_files"] == int(np.sum(bits_a < bits_b))
  assert (r["files"], r["samples"]) == (6, samples.sum())
  # A constant per-file shift is known exactly: the pairing removes the files' spread.
  shifted = json.loads(json.dumps(a))
  for u in shifted["per_file"]:
    u["nll_bits"] -= 0.1
  r = paired.paired(shifted, a)
  assert r["difference_bits"] == pytest.approx(-0.1)
  assert r["ci95_bits"] == pytest.approx(0.0, abs=1e-9)
  assert r["a_lower_files"] == 6
  # Against a reference predictor in the same result.
  r = paired.paired(a, a, b_predictor="linear_prediction")
  assert r["difference_bits"] == pytest.approx(-0.5) and r["a_lower_files"] == 6


def test_results_of_different_samples_are_refused(np_rng):
  names, samples = ["a", "b", "c"], np.array([100, 200, 300])
  a = _result(np_rng, names, samples)
  with pytest.raises(ValueError, match="gain_db is 0.0 in A and -12.0 in B"):
    paired.paired(a, _result(np_rng, names, samples, gain_db=-12.0))
  with pytest.raises(ValueError, match=r"first difference: c \(300 samples\) vs c "
                                       r"\(299\)"):
    paired.paired(a, _result(np_rng, names, [100, 200, 299]))
  with pytest.raises(ValueError, match="3 files vs 2"):
    paired.paired(a, _result(np_rng, names[:2], samples[:2]))
  with pytest.raises(ValueError, match="sampled"):
    paired.paired(_result(np_rng, names, samples, protocol="sampled"),
                   _result(np_rng, names, samples, protocol="sampled"))
  with pytest.raises(ValueError, match="no previous_sample score"):
    paired.paired(a, a, b_predictor="previous_sample")


def test_two_real_evaluations_compare_to_their_difference(np_rng):
  # evaluate_files' own output, two models on the same files: the paired difference
  # is the difference of their NLLs, and the per-file comparison is consistent.
  files = [np.clip(128 + np.cumsum(np_rng.normal(0, 4, n)), 0, 255).astype(np.uint8)
           for n in (300, 520, 90)]
  refs = References.fit(files[0])
  results = []
  for seed in (1, 2):
    model, params = make_model(CONFIGS["tiny"], seed=seed)
    scorer = protocols.Scorer(CNNTransformer(model.config), params, num_targets=64)
    results.append(protocols.evaluate_files(scorer, refs, list("xyz"), files, "full")
                   | {"split": "test", "max_seconds_per_file": None, "gain_db": 0.0})
  r = paired.paired(*results)
  assert r["difference_bits"] == pytest.approx(
      results[0]["nll_bits"] - results[1]["nll_bits"], abs=1e-6)
  r = paired.paired(results[0], results[0], b_predictor="linear_prediction")
  assert r["b_bits"] == pytest.approx(
      results[0]["references"]["linear_prediction"], abs=1e-9)


def test_cli_prints_and_writes_the_comparison(tmp_path, np_rng, capsys):
  names, samples = ["a", "b", "c", "d"], np.array([400, 400, 400, 400])
  a, b = _result(np_rng, names, samples), _result(np_rng, names, samples, shift=0.3)
  (tmp_path / "a.json").write_text(json.dumps(a))
  (tmp_path / "b.json").write_text(json.dumps(b))
  out = tmp_path / "cmp.json"
  assert compare_cli.main(["--a", str(tmp_path / "a.json"), "--b",
                           str(tmp_path / "b.json"), "--out", str(out)]) == 0
  text = capsys.readouterr().out
  assert "A - B, paired over 4 files (1,600 samples, full protocol, test split)" in text
  written = json.loads(out.read_text())
  assert written["a"] == "/runs/x (step 7)" and written["files"] == 4
  assert compare_cli.main(["--a", str(tmp_path / "a.json")]) == 2
  assert "same predictor of the same result" in capsys.readouterr().err
  assert compare_cli.main(["--a", str(tmp_path / "nope.json"),
                           "--b_predictor", "linear_prediction"]) == 2
  assert "nope.json does not exist" in capsys.readouterr().err
  (tmp_path / "bad.json").write_text("{")
  assert compare_cli.main(["--a", str(tmp_path / "bad.json"),
                           "--b_predictor", "marginal"]) == 2
  assert "not a JSON result file" in capsys.readouterr().err
