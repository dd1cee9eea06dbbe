"""The evaluate and sample CLIs on a tiny trained run, bad input included."""

import json
import os
import types

import numpy as np
import pytest
import soundfile as sf

from audiolm_jax import evaluate, sample, strict_json
from audiolm_jax.generation import comparison, prompts
from audiolm_jax.data import pipeline, quantization
from audiolm_jax.generation import spectrum, uncertainty
from audiolm_jax.checkpoints.run import open_run
from audiolm_jax.training import loop
from helpers import strict_loads
from test_train import _tiny_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_data_dir):
  workdir = str(tmp_path_factory.mktemp("run"))
  config = _tiny_config(**{"data.data_dir": tiny_data_dir, "num_steps": 4,
                           "eval_every": 0, "checkpoint_every": 4})
  loop.train_and_evaluate(config, workdir)
  return workdir


def test_evaluate_writes_table_and_json(run_dir, capsys):
  assert evaluate.main(["--workdir", run_dir, "--split", "validation",
                        "--max_seconds_per_file", "0.5", "--num_targets", "512"]) == 0
  out = capsys.readouterr().out
  assert "validation split, protocol full, recipe mu_law: 8,000 samples" in out
  assert "sample/s" not in out  # AUDIOLM_NO_PROGRESS=1 (run_dir): no progress bar
  assert "reference: previous sample" in out
  with open(os.path.join(run_dir, "eval_validation_full.json")) as f:
    result = strict_loads(f.read())
  assert result["samples"] == 8000 and len(result["per_file"]) == 1
  assert result["units"] == 1 and result["ci95_bits"] is None  # undefined: null
  assert np.isfinite(result["nll_bits"]) and result["step"] == 4
  assert evaluate.main(["--workdir", run_dir, "--protocol", "sampled",
                        "--num_positions", "64"]) == 0


def test_evaluate_audio_scores_recordings_as_the_split_scores_them(run_dir, tmp_path,
                                                                   capsys):
  """A validation file written to WAV and scored with --audio gets exactly its
  split score; a folder prints every file and the total; bad files are named."""
  from audiolm_jax.data import datasets
  source = datasets.open_split(open_run(run_dir).dataset_dir, "validation")
  record = source[0]
  folder = tmp_path / "recordings"
  folder.mkdir()
  sf.write(folder / "val.wav", record["audio"], 16_000, subtype="PCM_16")
  t = np.arange(11_025) / 22_050  # another rate, two channels
  sf.write(folder / "tone.flac", np.stack([0.2 * np.sin(2 * np.pi * 220 * t)] * 2, 1),
           22_050)
  (folder / "broken.wav").write_text("not audio")
  common = ["--workdir", run_dir, "--max_seconds_per_file", "0.5",
            "--num_targets", "512"]
  assert evaluate.main(common + ["--split", "validation"]) == 0
  with open(os.path.join(run_dir, "eval_validation_full.json")) as f:
    split_result = json.load(f)
  capsys.readouterr()
  assert evaluate.main(common + ["--audio", str(folder / "val.wav")]) == 0
  with open(os.path.join(run_dir, "eval_audio_full.json")) as f:
    one = json.load(f)
  assert one["nll_bits"] == pytest.approx(split_result["nll_bits"], rel=1e-6)
  assert one["references"] == pytest.approx(split_result["references"], rel=1e-9)
  capsys.readouterr()
  assert evaluate.main(common + ["--audio", str(folder)]) == 0
  out = capsys.readouterr().out
  assert "protocol full, recipe mu_law" in out and "tone.flac" in out
  assert "val.wav" in out and "skipped broken.wav: not a readable audio file" in out
  assert "reference: previous sample" in out
  assert evaluate.main(common + ["--audio", str(tmp_path / "missing.wav")]) == 2
  assert "missing.wav: no such file" in capsys.readouterr().err


def test_evaluate_errors(run_dir, tmp_path, capsys):
  assert evaluate.main(["--workdir", run_dir, "--protocol", "sashimi"]) == 2
  assert "recipe=sashimi" in capsys.readouterr().err
  assert evaluate.main(["--workdir", run_dir, "--split", "dev"]) == 2
  assert "unknown split 'dev'" in capsys.readouterr().err
  assert evaluate.main(["--workdir", str(tmp_path)]) == 2
  assert "no checkpoints in" in capsys.readouterr().err
  half = tmp_path / "checkpoints" / "3.orbax-checkpoint-tmp-123"
  half.mkdir(parents=True)
  assert evaluate.main(["--workdir", str(tmp_path)]) == 2
  assert "no complete checkpoint" in capsys.readouterr().err


def test_sample_writes_wav_and_png_and_never_overwrites(run_dir, tmp_path, capsys):
  prompt = tmp_path / "prompt.wav"
  t = np.arange(22_050 // 4) / 22_050
  sf.write(prompt, np.stack([0.3 * np.sin(2 * np.pi * 330 * t)] * 2, 1), 22_050)
  args = ["--workdir", run_dir, "--prompt", str(prompt), "--seconds", "0.07",
          "--streams", "2", "--out", str(tmp_path / "out"), "--block", "560"]
  assert sample.main(args) == 0
  assert sample.main(args) == 0
  files = sorted(os.listdir(tmp_path / "out"))
  assert len(files) == 12  # 2 runs x 2 streams x (json, png, wav), none overwritten
  audio, rate = sf.read(tmp_path / "out" / files[2])  # after its .json and .png
  assert rate == 16_000 and len(audio) == 4000 + 1120  # prompt (resampled) + 0.07 s
  with open(tmp_path / "out" / files[0]) as f:
    report = strict_loads(f.read())
  # The prompt is a pure tone: tonal (flatness near 0) at 0.3 / sqrt(2) RMS.
  assert report["prompt"]["median_flatness"] < 0.01
  assert report["prompt"]["level_dbfs"] == pytest.approx(-13.5, abs=0.3)
  assert report["flatness_ratio"] == pytest.approx(
      report["continuation"]["median_flatness"] / report["prompt"]["median_flatness"])
  out = capsys.readouterr().out
  # The continuation's bands against the prompt's (the WAV rounds to 16 bits).
  assert report["band_distance_db"] == pytest.approx(spectrum.band_distance_db(
      audio[4000:], audio[:4000]), abs=0.05)
  assert "real_continuation" not in report  # a file prompt has no yardstick
  assert "flatness x" in out and "sample/s" not in out  # AUDIOLM_NO_PROGRESS=1
  # The model's spread along the continuation and the flatness it implies.
  spread = report["uncertainty"]
  assert 0 < spread["flatness_floor"] < 1 and spread["predictive_rms_dbfs"] < 0
  assert spread["floor_ratio"] == pytest.approx(
      spread["flatness_floor"] / report["prompt"]["median_flatness"])
  assert "real_continuation" not in spread and "flatness floor of" in out




def test_a_silent_continuation_is_strict_json_with_a_reason(np_rng):
  """Stuck on one code, the continuation is silence: level -inf and band distance inf
  in Python, but nulls plus `silent` in the file, which strict readers accept."""
  t = np.arange(8_000) / 16_000
  prompt = 0.2 * np.sin(2 * np.pi * 262 * t) + np_rng.normal(0, 0.01, t.size)
  audio = np.concatenate([prompt, np.full(4_000, 0.37)])
  report = comparison.compare(audio, prompt.size, {"flatness_ratio": 1.2,
                                               "level_difference_db": -2.0,
                                               "band_distance_db": 6.0})
  assert report["continuation"]["level_dbfs"] == float("-inf")
  assert report["band_distance_db"] == float("inf")
  with pytest.raises(ValueError):  # what json.dump would otherwise have written
    strict_loads(json.dumps(report))
  loaded = strict_loads(strict_json.dumps(report))
  assert loaded["continuation"]["silent"] and not loaded["prompt"]["silent"]
  assert loaded["continuation"]["level_dbfs"] is None
  assert loaded["level_difference_db"] is None and loaded["band_distance_db"] is None
  assert loaded["prompt"]["level_dbfs"] == pytest.approx(
      report["prompt"]["level_dbfs"])  # finite numbers pass through unchanged
  assert loaded["real_continuation"] == report["real_continuation"]
  assert "level -inf dBFS" in comparison.format_comparison(report)


def test_a_split_prompt_is_read_against_the_recordings_own_continuation(
    run_dir, tmp_path, capsys):
  run = open_run(run_dir)
  data, model, params = run.dataset_dir, run.model, run.params
  prompt, what = prompts.load_prompt(None, model, dataset_dir=data, split="test",
                                    seconds=0.2, seed=3)
  real = prompts.real_continuation(data, "test", prompt_seconds=0.2, seconds=0.3, seed=3)
  assert prompt.size == 3_200 and real.size == 4_800
  # Prompt then real continuation is one contiguous excerpt of the file named.
  flat = pipeline.FlatSplit(data, "test", "mu_law")
  file = np.asarray(flat.file(flat.names.index(what.split(" [")[0])))
  joined = np.concatenate([prompt, real])
  starts = [k for k in range(file.size - joined.size + 1)
            if np.array_equal(file[k:k + 64], joined[:64])]
  assert any(np.array_equal(file[k:k + joined.size], joined) for k in starts)
  out = tmp_path / "split"
  assert sample.main(["--workdir", run_dir, "--prompt_split", "test", "--prompt_seconds",
                      "0.2", "--seconds", "0.3", "--seed", "3", "--block", "800",
                      "--out", str(out)]) == 0
  with open(next(out.glob("*.json"))) as f:
    report = json.load(f)
  audio = quantization.decode(joined, model.quantization)
  truth = comparison.compare(audio, prompt.size)
  assert report["real_continuation"] == pytest.approx(
      {k: truth[k] for k in ("flatness_ratio", "level_difference_db",
                             "band_distance_db")})
  assert report["band_distance_db"] > 0
  printed = capsys.readouterr().out
  assert "the recording's own continuation: flatness x" in printed
  assert "linear prediction's by" in printed
  # The model's spread along the recording's own continuation, as `describe` gives it.
  (real_spread,) = uncertainty.describe(model, params, [joined], prompt.size)
  along_real = report["uncertainty"]["real_continuation"]
  for key in ("flatness_floor", "error_floor"):
    assert along_real[key] == pytest.approx(real_spread[key], rel=1e-5)
  # The linear-prediction reference's miss over the same stretch, and each floor as
  # a multiple of the prompt's flatness.
  lp = uncertainty.linear_prediction_error(joined, prompt.size)
  assert along_real["linear_prediction"]["error_floor"] == pytest.approx(
      lp["error_floor"])
  prompt_flatness = report["prompt"]["median_flatness"]
  assert along_real["error_floor_ratio"] == pytest.approx(
      real_spread["error_floor"] / prompt_flatness, rel=1e-5)
  assert along_real["linear_prediction"]["error_floor_ratio"] == pytest.approx(
      lp["error_floor"] / prompt_flatness)


_NO_MODEL = types.SimpleNamespace(left_context=None)  # load_prompt reads only this


class _FakeSplit:
  """Stands in for `pipeline.FlatSplit`: named files of mu-law codes."""

  def __init__(self, files):
    self.names, self._files = list(files), list(files.values())

  def file(self, f):
    return self._files[f]


def test_a_drawn_prompt_that_is_silence_is_redrawn(monkeypatch, np_rng):
  # A piece's final silence (the silence code, and a rest one mu-law step from it)
  # next to a file of audio; with a third of the draws landing on audio, the first
  # seed whose first draw is silent must move on to the audio, and a seed whose
  # first draw holds audio keeps it.
  silence = quantization.silence_code("mu_law")
  rest = np.full(8_000, silence, np.uint8)
  rest[::7] = silence + 1  # about -80 dBFS: below the -60 dBFS bar
  tone = quantization.encode(0.3 * np.sin(np.arange(8_000) / 5.0)
                             + 0.01 * np_rng.standard_normal(8_000), "mu_law")
  files = {"silent.mxl": np.full(8_000, silence, np.uint8), "rest.mxl": rest,
           "tone.mxl": tone}
  monkeypatch.setattr(prompts.pipeline, "FlatSplit", lambda *a: _FakeSplit(files))
  firsts = {s: int(np.random.default_rng(s).integers(3)) for s in range(20)}
  moved = next(s for s, f in firsts.items() if f != 2)
  kept = next(s for s, f in firsts.items() if f == 2)
  for seed in (moved, kept):
    file, start, name = prompts.split_excerpt("d", "test", "mu_law", 0.1, seed)
    assert name == "tone.mxl" and np.array_equal(file, tone)
    assert spectrum.level_dbfs(quantization.decode(
        file[start:start + 1_600], "mu_law")) > prompts.MIN_PROMPT_DBFS
  # The kept seed's excerpt is its first draw, as before redrawing existed.
  rng = np.random.default_rng(kept)
  rng.integers(3)
  assert prompts.split_excerpt("d", "test", "mu_law", 0.1, kept)[1] == int(
      rng.integers(0, 8_000 - 1_600 + 1))
  # The prompt and the recording's continuation come from the same redrawn excerpt.
  prompt, what = prompts.load_prompt(None, _NO_MODEL, dataset_dir="d", split="test",
                                    seconds=0.1, seed=moved)
  real = prompts.real_continuation("d", "test", prompt_seconds=0.1, seconds=0.05,
                                  seed=moved)
  joined = np.concatenate([prompt, real])
  assert what.startswith("tone.mxl [test] at ")
  assert any(np.array_equal(tone[k:k + joined.size], joined)
             for k in range(tone.size - joined.size + 1))
  # A split with no audio at all: a clear error, not a silent prompt.
  del files["tone.mxl"]
  with pytest.raises(ValueError, match="quieter than -60 dBFS; give --prompt FILE"):
    prompts.load_prompt(None, _NO_MODEL, dataset_dir="d", split="test", seconds=0.1, seed=0)


def test_evaluate_at_fixed_gains(run_dir, capsys):
  """Each gain scores the scaled audio (the references move with it); 0 dB is the
  plain score."""
  common = ["--workdir", run_dir, "--split", "validation", "--max_seconds_per_file",
            "0.5", "--num_targets", "512"]
  assert evaluate.main(common) == 0
  with open(os.path.join(run_dir, "eval_validation_full.json")) as f:
    plain = json.load(f)
  capsys.readouterr()
  assert evaluate.main(common + ["--gains_db=-24,0"]) == 0
  out = capsys.readouterr().out
  assert "gain -24 dB" in out and "gain dB" in out
  with open(os.path.join(run_dir, "eval_validation_full_gain-24dB.json")) as f:
    quiet = json.load(f)
  with open(os.path.join(run_dir, "eval_validation_full.json")) as f:
    again = json.load(f)
  assert again["nll_bits"] == pytest.approx(plain["nll_bits"], rel=1e-9)
  assert quiet["gain_db"] == -24 and quiet["nll_bits"] != plain["nll_bits"]
  # A quieter signal is more predictable for the previous-sample reference.
  assert (quiet["references"]["previous_sample"]
          < plain["references"]["previous_sample"])
  assert evaluate.main(common + ["--gains_db=loud"]) == 2
  assert "'loud' is not a number" in capsys.readouterr().err


def test_sample_bad_prompts(run_dir, tmp_path, capsys):
  (tmp_path / "text.wav").write_text("not audio")
  assert sample.main(["--workdir", run_dir, "--prompt", str(tmp_path / "text.wav")]) == 2
  assert "text.wav: not a readable audio file" in capsys.readouterr().err
  sf.write(tmp_path / "empty.wav", np.zeros(0), 16_000)
  assert sample.main(["--workdir", run_dir, "--prompt", str(tmp_path / "empty.wav")]) == 2
  assert "no audio samples" in capsys.readouterr().err
  long = tmp_path / "long.wav"
  sf.write(long, 0.1 * np.sin(np.arange(1000) / 3.0), 16_000)
  assert sample.main(["--workdir", run_dir, "--prompt", str(long), "--seconds",
                      "0.01", "--out", str(tmp_path / "o")]) == 0
  assert "the model reads its last 128" in capsys.readouterr().out
  assert sample.main(["--workdir", str(tmp_path / "none")]) == 2
  assert "no checkpoints" in capsys.readouterr().err


def test_opening_a_run_logs_no_read_only_noise_but_keeps_other_warnings(run_dir,
                                                                         caplog):
  # Orbax warned three times per read-only open (evaluate, sample); other absl
  # warnings logged while a run is open still show.
  import logging
  from audiolm_jax.checkpoints import reading
  absl_logger = logging.getLogger("absl")
  with caplog.at_level(logging.WARNING):
    reading.load_params(run_dir)
    with reading._quiet_read_only_open():
      absl_logger.warning("a real problem")
  messages = [r.getMessage() for r in caplog.records]
  assert not [m for m in messages
              if any(n in m for n in reading._READ_ONLY_NOISE)], messages
  assert "a real problem" in messages
  assert not absl_logger.filters  # the filter is gone once the run is open
