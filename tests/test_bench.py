"""The benchmark CLI: its numbers are consistent, its search is right, the performance
page and the README's expected results are generated from the committed results."""

import json
import os

import pytest

from audiolm_jax.bench import __main__ as bench_cli
from audiolm_jax.bench import expected, memory, report
from audiolm_jax.models.cnn_transformer_config import get_model_config
from audiolm_jax.models.cost import encoder_macs
from helpers import strict_loads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMITTED_RESULTS = os.path.join(ROOT, "benchmarks", "results_cpu.json")
TINY_PARAMS = 37_880  # the tiny preset (docs/model.md, Presets)


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("bench") / "r.json")
  bench_cli.main(["--suites", "per_target,generation", "--preset", "tiny",
                  "--contexts", "128,256", "--num_targets", "16,64",
                  "--chunked_batch", "3", "--budget_s", "0.2", "--max_repeats", "2",
                  "--generation_batches", "1,2", "--generation_block", "20",
                  "--naive_steps", "2", "--out", out])
  # A later run of another suite merges into the same file.
  bench_cli.main(["--suites", "training", "--train_configs", "configs/default.py:tiny",
                  "--train_batch", "2", "--train_steps", "1", "--out", out])
  with open(out) as f:
    return out, strict_loads(f.read())


def test_results_name_environment_and_command(tiny_results):
  _, results = tiny_results
  assert set(results) == {"per_target", "generation", "training"}
  for suite in results.values():
    assert suite["date"] and suite["device"] and suite["versions"]["jax"]
  assert results["per_target"]["command"] == (
      "python -m audiolm_jax.bench --suites per_target --preset tiny --contexts "
      "128,256 --num_targets 16,64 --chunked_batch 3 --budget_s 0.2 --max_repeats 2")


def test_per_target_rows_and_ratios(tiny_results):
  _, results = tiny_results
  s = results["per_target"]
  # 2 contexts x 2 passes x (chunked + 2 dense K).
  assert len(s["rows"]) == 12 and len(s["ratios"]) == 8
  by_key = {(r["context"], r["pass"], r["path"], r["num_targets"]): r for r in s["rows"]}
  for context in (128, 256):
    # XLA's count of the chunked forward against analytic bounds: at least the
    # multiply-adds of its N chunk encodings (2 FLOPs each), at most that plus every
    # parameter used twice per token (the tiny model's Transformer is not small).
    cfg = get_model_config("tiny", context=context)
    encoders = 2 * cfg.num_tokens * encoder_macs(cfg) / 1e9
    rest = 2 * 2 * cfg.num_tokens * TINY_PARAMS / 1e9
    chunked_fwd = by_key[(context, "fwd", "chunked", 1)]["gflop_per_target"]
    assert encoders < chunked_fwd < encoders + rest
  for context in (128, 256):
    for pass_ in ("fwd", "fwd+bwd"):
      chunked = by_key[(context, pass_, "chunked", 1)]["gflop_per_target"]
      dense = [by_key[(context, pass_, "dense", k)]["gflop_per_target"] for k in (16, 64)]
      # Dense shares the encoder over overlapping chunks: cheaper, more so for larger K.
      assert chunked > dense[0] > dense[1] > 0
    fwd = by_key[(context, "fwd", "chunked", 1)]["gflop_per_target"]
    assert 2 * fwd < by_key[(context, "fwd+bwd", "chunked", 1)]["gflop_per_target"]


def test_generation_and_training_rows(tiny_results):
  _, results = tiny_results
  g = results["generation"]
  rates = {(r["batch"], r["method"]): r for r in g["rows"]}
  for batch in (1, 2):
    for method in ("cached", "naive"):
      r = rates[(batch, method)]
      assert r["real_time_factor"] == pytest.approx(r["samples_per_s"] / 16_000)
      assert r["samples_per_s"] == pytest.approx(r["samples_per_s_per_stream"] * batch)
  assert all(s["cached_over_naive"] > 1 for s in g["speedups"])
  (t,) = results["training"]["rows"]
  assert t["batch_size"] == 2 and t["targets_per_step"] == 2 * 256
  assert t["targets_per_s"] == pytest.approx(t["targets_per_step"] / t["step_s"])
  assert 0 < t["mfu"] < 1 and t["loss_bits"] > 0


def _cell(text: str) -> float:
  return float(text.replace(",", "").split()[0])


def test_markdown_written_beside_json_shows_its_numbers(tiny_results):
  out, results = tiny_results
  with open(out.replace(".json", ".md")) as f:
    text = f.read()
  for heading in ("Chunked vs dense", "Training throughput", "Generation"):
    assert f"## {heading}" in text
  # Every per-target row of the JSON is a table row with its numbers (to the 3
  # significant digits shown) in the right columns.
  table = [line.strip("|").split("|") for line in text.splitlines()
           if line.startswith("| ") and ("chunked |" in line or "dense, K" in line)]
  rows = results["per_target"]["rows"]
  assert len(table) == len(rows)
  for cells, row in zip(table, rows):
    cells = [c.strip() for c in cells]
    assert cells[1] == row["pass"] and cells[2].startswith(row["path"])
    assert _cell(cells[3]) == pytest.approx(row["ms_per_target"], rel=6e-3)
    assert _cell(cells[4]) == pytest.approx(row["gflop_per_target"], rel=6e-3)


def test_largest_batch_search_corrects_a_wrong_prediction(monkeypatch):
  # Memory grows faster than batches 1 and 2 predict (e.g. a layout change at 5):
  # the search must still return the true largest batch, 7.
  need = lambda b: 10 * b + (25 if b >= 5 else 0)
  monkeypatch.setattr(memory, "step_bytes", lambda config, b: need(b))
  limit = 95
  assert memory.largest_batch(None, limit, need(1), need(2)) == 7
  # ... and slower than predicted: 3 + 2b fits up to 46 in 95.
  need = lambda b: 10 * b if b <= 2 else 20 + 2 * b
  assert memory.largest_batch(None, limit, need(1), need(2)) == 37
  assert memory.largest_batch(None, 5, 10, 20) == 0


def test_reproducing_command_names_no_home_folder(monkeypatch, tmp_path):
  # A dataset under the home folder is written ~/..., outside the quotes (a shell
  # expands it on any machine); other paths are quoted as they are.
  monkeypatch.setenv("HOME", str(tmp_path / "me"))
  data = str(tmp_path / "me" / "tfds" / "a b")
  assert bench_cli._command(["--dataset_dir", data, "--out", "x.json"], "pipeline") == (
      "python -m audiolm_jax.bench --suites pipeline --dataset_dir ~/'tfds/a b'")
  other = str(tmp_path / "elsewhere")
  assert bench_cli._command([f"--dataset_dir={other}"], "pipeline").endswith(
      f"--dataset_dir {other}")


def test_cpu_kind_names_the_vector_width(tmp_path):
  """Results name the processor kind: the last digits of a CPU run differ between
  AVX2 and AVX-512 machines."""
  from audiolm_jax.bench import environment  # pylint: disable=g-import-not-at-top
  info = tmp_path / "cpuinfo"
  for flags, width in (("fpu sse2 avx avx2 fma", "AVX2"),
                       ("fpu avx2 avx512f avx512bw", "AVX-512"), ("fpu sse2", "SSE")):
    info.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n")
    assert environment.cpu_kind(str(info)) == f"Some CPU, {width}"
  assert environment.cpu_kind(str(tmp_path / "absent"))  # the machine name


def test_number_format():
  assert [report._num(x) for x in (0.00225, 2.25, 201.4, 12_345.6, 0.5)] == [
      "0.00225", "2.25", "201", "12,346", "0.500"]


def test_bad_flags_are_refused(capsys):
  assert bench_cli.main(["--suites", "per_target,speed"]) == 2
  assert "unknown suite(s) in --suites" in capsys.readouterr().err
  assert bench_cli.main(["--contexts", "128k"]) == 2
  assert "expected comma-separated integers" in capsys.readouterr().err
  # A usage error found after parsing is the same one line and status (cli.py).
  assert bench_cli.main(["--suites", "pipeline", "--dataset_dir", "/no/such"]) == 2
  assert "the pipeline suite needs --dataset_dir" in capsys.readouterr().err


def test_performance_page_is_generated_from_committed_results():
  with open(COMMITTED_RESULTS) as f:
    section = report.markdown(json.load(f))
  with open(os.path.join(ROOT, "docs", "performance.md")) as f:
    page = f.read()
  assert report.replace_section(page, section) == page, (
      "docs/performance.md is stale: run python -m audiolm_jax.tables "
      "--results benchmarks/results_cpu.json --doc docs/performance.md")


def test_tpu_compile_tables_are_generated_from_committed_results():
  from audiolm_jax.bench import aot  # pylint: disable=g-import-not-at-top
  with open(os.path.join(ROOT, "benchmarks", "aot_tpu.json")) as f:
    results = json.load(f)
  section = aot.markdown(results)
  with open(os.path.join(ROOT, "docs", "performance.md")) as f:
    page = f.read()
  assert report.replace_section(page, section, aot.BEGIN, aot.END) == page, (
      "docs/performance.md's TPU tables are stale: run python -m audiolm_jax."
      "tables --results benchmarks/aot_tpu.json --doc docs/performance.md")
  # Every row the sweep plans appears in the tables or in the not-yet list.
  for task in aot.tasks():
    key = task["key"]
    if key not in results["rows"]:
      assert f"`{key}`" in section or len(aot.tasks()) - len(results["rows"]) > 40


def test_readme_expected_results_are_generated_from_committed_results():
  """The README's expected-results table is what the committed results say."""
  with open(os.path.join(ROOT, "README.md")) as f:
    readme = f.read()
  section = expected.table(ROOT)
  assert expected.replace_section(readme, section) == readme, (
      "README's expected results are stale: run python -m audiolm_jax.tables "
      "--readme README.md")
  # The numbers come from the files: a changed result changes the table.
  with open(COMMITTED_RESULTS) as f:
    bench = json.load(f)
  flac = next(r for r in bench["codec"]["splits"]["test"]["pcm16_rows"]
              if r["method"] == "FLAC -8")
  assert f"FLAC -8 {flac['bits_per_sample']:.2f}" in section
