"""The study runner end to end: two runs trained under one budget, scored, tabled
and plotted; a study killed mid-run resumes without retraining the finished run."""

import json
import os
import shutil
import subprocess
import sys

import ml_collections
import pytest

from audiolm_jax import tables
from audiolm_jax.study import __main__ as study_main
from audiolm_jax.study import plan, report, runner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STUDY = '''
import ml_collections

def get_config():
  c = ml_collections.ConfigDict()
  c.name = "two-run test"
  c.budget_targets = 1024
  c.common = {{"data": {{"data_dir": {data_dir!r}, "worker_count": 0,
                       "recipe": "sashimi"}},
              "num_targets": 32, "eval_every": 0, "checkpoint_every": 2,
              "eval_windows": 2, "log_every": 2}}
  c.eval = ml_collections.ConfigDict(dict(
      split="test", protocols=("full", "sashimi"), max_seconds_per_file=8.192,
      num_targets=4096, batch=2, truncated_positions=16, short_past_samples=2000))
  c.runs = [
      dict(name="ctx4", config="configs/default.py:tiny", group="context", x=4,
           overrides={{"batch_size": 8}}),       # 256 targets per step: 4 steps
      dict(name="ctx2", config="configs/default.py:tiny", group="context", x=2,
           overrides={{"batch_size": 4, "model.context": 64}}),  # 128: 8 steps
  ]
  return c
'''


def _study(tmp_path, workdir, env=None):
  return subprocess.run(
      [sys.executable, "-m", "audiolm_jax.study", "--config",
       str(tmp_path / "study.py"), "--workdir", str(workdir)],
      cwd=REPO, capture_output=True, text=True, timeout=900,
      env={**os.environ, "AUDIOLM_NO_PROGRESS": "1", **(env or {})})


def test_a_killed_study_resumes_without_retraining(tmp_path, tiny_data_dir, capsys):
  (tmp_path / "study.py").write_text(STUDY.format(data_dir=tiny_data_dir))
  workdir = tmp_path / "study"
  # The second run is killed at its step 6 (the first has only 4 steps).
  killed = _study(tmp_path, workdir, {"AUDIOLM_FAULT_KILL_AT_STEP": "6"})
  assert killed.returncode != 0
  done = workdir / "runs" / "ctx4" / "trained.json"
  assert done.is_file() and not (workdir / "runs" / "ctx2" / "trained.json").exists()
  first = done.stat().st_mtime_ns
  # The resume runs in this process (only the kill needed a process of its own).
  argv = ["--config", str(tmp_path / "study.py"), "--workdir", str(workdir)]
  # A report needs every run, unless asked for an interim one.
  assert study_main.main(argv + ["--report_only"]) == 2
  assert "runs not trained yet: ctx2" in capsys.readouterr().err
  assert study_main.main(argv + ["--report_only", "--allow_missing"]) == 0
  interim = json.loads((workdir / "results.json").read_text())
  assert [r["name"] for r in interim["runs"]] == ["ctx4"]
  assert interim["missing"] == ["ctx2"] and interim["truncated"]["run"] == "ctx4"
  assert "Interim report**: not trained yet, so not in these tables: ctx2" in \
      (workdir / "results.md").read_text()
  capsys.readouterr()
  assert study_main.main(argv) == 0
  out = capsys.readouterr().out
  assert "[ctx4] trained earlier: not retrained" in out
  assert "[ctx2] training 8 steps (resuming at step 6)" in out
  assert done.stat().st_mtime_ns == first
  results = json.loads((workdir / "results.json").read_text())
  assert results["missing"] == []
  runs = {r["name"]: r for r in results["runs"]}
  assert runs["ctx4"]["targets"] == runs["ctx2"]["targets"] == 1024
  assert (runs["ctx4"]["steps"], runs["ctx2"]["steps"]) == (4, 8)
  for r in runs.values():
    for protocol in ("full", "sashimi"):
      ev = r["eval"][protocol]
      # One test file in the tiny set: no interval, null in the JSON (strict_json),
      # which the table omits and the plots draw without an error bar.
      assert 1.0 < ev["nll_bits"] < 9.0 and ev["samples"] > 0 and ev["units"] >= 1
      assert (ev["ci95_bits"] is None) == (ev["units"] == 1)
      assert set(ev["references"]) == {"marginal", "previous_sample",
                                        "linear_prediction"}
    assert r["eval"]["full"]["short_past"]["short"]["count"] > 0
  truncated = results["truncated"]["tokens"]
  assert sorted(map(int, truncated)) == [1, 2, 3, 4]
  assert truncated["4"]["minus_longest_bits"] == 0.0
  for v in truncated.values():  # the paired difference is the difference of the means
    assert abs(v["minus_longest_bits"]
               - (v["nll_bits"] - truncated["4"]["nll_bits"])) < 1e-6
  table = (workdir / "results.md").read_text()
  assert "| ctx4 | cnn_transformer | 4 tokens |" in table
  assert "Context at inference" in table
  for png in ("context.png", "families.png", "cost.png"):
    assert (workdir / png).stat().st_size > 1000
  # Once more: it trains and scores nothing.
  assert study_main.main(argv) == 0
  out = capsys.readouterr().out
  assert "] training" not in out and "] scoring" not in out


def test_plan_checks_the_budget_and_names(tmp_path):
  import ml_collections  # pylint: disable=g-import-not-at-top
  study = ml_collections.ConfigDict({"budget_targets": 1000, "common": {},
                                     "runs": [dict(name="a b",
                                                   config="configs/default.py:tiny")]})
  with pytest.raises(ValueError, match="run name 'a b'"):
    plan.plan(study)
  study.runs = [dict(name="a", config="configs/default.py:tiny")]
  with pytest.raises(ValueError, match="do not divide the budget of 1,000"):
    plan.plan(study)
  study.runs = [dict(name="a", config="configs/default.py:tiny",
                     overrides={"model.contxt": 5})]
  with pytest.raises(KeyError, match="no field 'contxt'"):
    plan.plan(study)
  runs = [plan.Run(str(i), "family", i, None) for i in range(5)]
  assert [r.name for r in plan.shard(runs, "1/2")] == ["1", "3"]
  with pytest.raises(ValueError, match="K/N"):
    plan.shard(runs, "x")


@pytest.mark.parametrize("spec, runs", [("configs/study/table1_cpu.py", 10),
                                        ("configs/study/context_seeds_cpu.py", 15),
                                        ("configs/study/context_seeds_default.py", 6),
                                        ("configs/study/table1_paper.py", 6),
                                        ("configs/study/lr_default.py", 10)])
def test_committed_studies_plan_one_budget(spec, runs):
  planned = plan.plan(plan.load_config_file(spec))
  assert len(planned) == runs
  from audiolm_jax.training import config as train_config  # pylint: disable=g-import-not-at-top
  from audiolm_jax.training import config_loader  # pylint: disable=g-import-not-at-top
  budgets = {r.config.num_steps * r.config.batch_size
             * train_config.window_targets(r.config) for r in planned}
  assert len(budgets) == 1
  # One recipe per study: table1's is SaShiMi's, so that both protocols apply.
  assert len({r.config.data.recipe for r in planned}) == 1
  if "table1" in spec or "context_seeds_cpu" in spec:
    assert planned[0].config.data.recipe == "sashimi"
  for r in planned:
    r.config.data.manual_dir = "/somewhere/with/the/audio"  # youtube_mix's source
    train_config.checked_model(r.config, device_count=1)


def test_the_learning_rate_study_trains_what_the_readme_measured():
  """configs/study/lr_default.py: train.py's configs for the learning-rate finding's
  table (`--config.seed=S`, and 2e-3 / 2e-4 for the other entry), up to the
  periodic validation and checkpoint cadence, which change no parameter."""
  from audiolm_jax.training import config as train_config  # pylint: disable=g-import-not-at-top
  from audiolm_jax.training import config_loader  # pylint: disable=g-import-not-at-top
  planned = {r.name: r for r in plan.plan(plan.load_config_file(
      "configs/study/lr_default.py"))}
  for seed in range(5):
    for name, lr, decayed in (("lr1e-3", 1e-3, 1e-4), ("lr2e-3", 2e-3, 2e-4)):
      cli = config_loader.load_config_file("configs/default.py")
      cli.seed = seed
      cli.optimizer.learning_rate, cli.optimizer.decayed_learning_rate = lr, decayed
      training = lambda c: {k: v for k, v in c.to_dict().items()
                            if k not in ("eval_every", "checkpoint_every")}
      assert training(planned[f"{name}.seed{seed}"].config) == training(cli), name


def test_a_preempted_run_is_not_marked_trained(tmp_path, monkeypatch):
  """SIGTERM makes training save and return early: the run must stay unfinished
  (no trained.json), so the next study run resumes it instead of scoring it."""
  config = ml_collections.ConfigDict({"num_steps": 10})
  run = plan.Run(name="r", config=config, group="context", x=1)
  monkeypatch.setattr(runner.loop, "train_and_evaluate",
                      lambda cfg, d: {"step": 4, "preempted": True})
  with pytest.raises(runner.RunInterruptedError, match="stopped at step 4 of 10"):
    runner.train(str(tmp_path), run)
  assert not runner.is_trained(str(tmp_path), run)


def test_studies_page_is_generated_from_the_committed_results(tmp_path):
  # docs/studies.md's tables must be what the committed results.json files say:
  # regenerate each study's section into a copy and compare (fails if either was
  # edited by hand alone, or a committed study has no section).
  page = tmp_path / "docs" / "studies.md"
  page.parent.mkdir()
  shutil.copy(os.path.join(REPO, "docs", "studies.md"), page)
  studies = sorted(os.listdir(os.path.join(REPO, "results")))
  assert "table1_cpu" in studies
  for study in studies:
    results = tmp_path / "results" / study / "results.json"
    results.parent.mkdir(parents=True)
    shutil.copy(os.path.join(REPO, "results", study, "results.json"), results)
    assert tables.main(["--results", str(results), "--doc", str(page)]) == 0
    assert json.loads(results.read_text())["missing"] == []  # not an interim report
  assert page.read_text() == open(os.path.join(REPO, "docs", "studies.md")).read(), (
      "docs/studies.md's sections differ from results/*/results.json; run python -m "
      "audiolm_jax.tables --results results/STUDY/results.json --doc "
      "docs/studies.md for each")
