"""Studies over seeds: the plan's expansion, the statistics over seeds against
scipy's, and a two-seed study end to end (trained, scored, tabled, in a docs page)."""

import json
import os

import ml_collections
import numpy as np
import pytest
from scipy import stats

from audiolm_jax import tables
from audiolm_jax.study import __main__ as study_main
from audiolm_jax.study import plan, report, seeds

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _study(**fields):
  return ml_collections.ConfigDict({
      "budget_targets": 2048, "common": {},
      "runs": [dict(name="a", config="configs/default.py:tiny", group="context", x=1,
                    overrides={"batch_size": 4}),
               dict(name="b", config="configs/default.py:tiny", group="family",
                    overrides={"batch_size": 2})],
      **fields})


def test_plan_trains_each_entry_once_per_seed():
  runs = plan.plan(_study(seeds=(3, 0)))
  assert [(r.name, r.base, r.seed, r.config.seed) for r in runs] == [
      ("a.seed3", "a", 3, 3), ("a.seed0", "a", 0, 0),
      ("b.seed3", "b", 3, 3), ("b.seed0", "b", 0, 0)]
  # Each seed's config is its own: the budget and overrides hold for every one.
  assert [r.config.batch_size for r in runs] == [4, 4, 2, 2]
  assert runs[0].config is not runs[1].config
  plain = plan.plan(_study())
  assert [(r.name, r.base, r.seed) for r in plain] == [("a", "a", None),
                                                       ("b", "b", None)]
  for bad in ((), (1, 1), (-1,), (0.5,), (True,)):
    with pytest.raises(ValueError, match="distinct non-negative integers"):
      plan.plan(_study(seeds=bad))


def _runs(values: dict) -> list[dict]:
  return [{"name": f"{base}.seed{i}", "base": base, "seed": i,
           "group": "context", "x": x, "eval": {"full": {"nll_bits": v}}}
          for (base, x), vs in values.items() for i, v in enumerate(vs)]


def test_statistics_over_seeds_match_scipy():
  rng = np.random.default_rng(7)
  a = list(5 + 0.1 * rng.standard_normal(3))
  b = list(5.2 + 0.3 * rng.standard_normal(4))
  rows = seeds.summary(_runs({("long", 8): a, ("short", 1): b}), "full")
  long, short = rows
  assert long["base"] == "long" and long["nll_bits"] == a
  assert long["mean_bits"] == pytest.approx(np.mean(a))
  assert long["sd_bits"] == pytest.approx(np.std(a, ddof=1))
  low, high = stats.t.interval(0.95, 2, loc=np.mean(a), scale=stats.sem(a))
  assert long["ci95_bits"] == pytest.approx((high - low) / 2)
  # Each context against the shortest: Welch's interval, as scipy's unequal-variance
  # t-test gives it; the shortest gets no comparison with itself.
  welch = stats.ttest_ind(a, b, equal_var=False).confidence_interval()
  diff = long["minus_shortest"]
  assert diff["base"] == "short"
  assert diff["diff_bits"] == pytest.approx(np.mean(a) - np.mean(b))
  assert diff["diff_bits"] - diff["ci95_bits"] == pytest.approx(welch.low)
  assert diff["diff_bits"] + diff["ci95_bits"] == pytest.approx(welch.high)
  assert "minus_shortest" not in short
  # One seed per entry: nothing to say over seeds.
  assert seeds.summary(_runs({("long", 8): a[:1], ("short", 1): b[:1]}), "full") is None
  # Results written before seeds existed: each run is its own entry.
  assert seeds.base_name({"name": "paper_8tok"}) == "paper_8tok"


STUDY = '''
import ml_collections

def get_config():
  c = ml_collections.ConfigDict()
  c.name = "seeded_test"
  c.budget_targets = 1024
  c.seeds = (0, 1)
  c.common = {{"data": {{"data_dir": {data_dir!r}, "worker_count": 0}},
              "num_targets": 32, "eval_every": 0, "checkpoint_every": 4,
              "eval_windows": 2, "log_every": 4}}
  c.eval = ml_collections.ConfigDict(dict(
      split="test", protocols=("full",), max_seconds_per_file=1.0,
      num_targets=4096, batch=2, truncated_positions=16))
  c.runs = [
      dict(name="ctx4", config="configs/default.py:tiny", group="context", x=4,
           overrides={{"batch_size": 8}}),
      dict(name="ctx2", config="configs/default.py:tiny", group="context", x=2,
           overrides={{"batch_size": 8, "model.context": 64}}),
  ]
  return c
'''


def test_a_seeded_study_reports_over_seeds(tmp_path, tiny_data_dir, capsys):
  (tmp_path / "study.py").write_text(STUDY.format(data_dir=tiny_data_dir))
  workdir = tmp_path / "study"
  assert study_main.main(["--config", str(tmp_path / "study.py"),
                          "--workdir", str(workdir)]) == 0
  capsys.readouterr()
  results = json.loads((workdir / "results.json").read_text())
  runs = {r["name"]: r for r in results["runs"]}
  assert sorted(runs) == ["ctx2.seed0", "ctx2.seed1", "ctx4.seed0", "ctx4.seed1"]
  for name, r in runs.items():
    assert (r["base"], r["seed"]) == (name.split(".")[0], int(name[-1]))
    saved = json.loads((workdir / "runs" / name / "trained.json").read_text())
    assert saved["config"]["seed"] == r["seed"]
  # Two seeds are two different trainings: their scores differ.
  nll = {n: r["eval"]["full"]["nll_bits"] for n, r in runs.items()}
  assert nll["ctx4.seed0"] != nll["ctx4.seed1"]
  rows = {r["base"]: r for r in results["seeds"]["full"]}
  assert rows["ctx4"]["nll_bits"] == [nll["ctx4.seed0"], nll["ctx4.seed1"]]
  assert rows["ctx4"]["mean_bits"] == pytest.approx(
      (nll["ctx4.seed0"] + nll["ctx4.seed1"]) / 2)
  assert rows["ctx4"]["minus_shortest"]["diff_bits"] == pytest.approx(
      rows["ctx4"]["mean_bits"] - rows["ctx2"]["mean_bits"])
  table = (workdir / "results.md").read_text()
  # (Seconds of training leave these tiny runs near the previous-sample reference;
  # those no better than it carry a mark.)
  failed = [seeds.above_previous_sample(runs[f"ctx4.seed{i}"]["eval"]["full"])
            for i in (0, 1)]
  marks = ", ".join(f"{i}{' †' if bad else ''}" for i, bad in enumerate(failed))
  assert "Over seeds" in table and f"| ctx4 | {marks} |" in table
  # The docs section named after the study is filled from these results alone.
  readme = tmp_path / "README.md"
  readme.write_text("intro\n<!-- study:seeded_test:begin -->\nSTALE TABLE\n"
                    "<!-- study:seeded_test:end -->\nafter\n")
  argv = ["--results", str(workdir / "results.json"), "--doc"]
  assert tables.main(argv + [str(readme)]) == 0
  text = readme.read_text()
  assert "STALE TABLE" not in text and "Over seeds" in text and text.endswith("after\n")
  # There the per-run rows give way to a link to results.md, which holds them.
  assert "| ctx4.seed0 |" not in text and "| ctx4.seed0 |" in table
  assert "(study/results.md)" in text
  other = tmp_path / "OTHER.md"
  other.write_text("<!-- study:table1_cpu:begin -->\n<!-- study:table1_cpu:end -->\n")
  assert tables.main(argv + [str(other)]) == 2
  assert "study:seeded_test:begin" in capsys.readouterr().err


def _scored(name, base, seed, nll, previous=5.0):
  return {"name": name, "base": base, "seed": seed, "group": "context", "x": 1,
          "model": "cnn_transformer", "params": 10, "targets": 100, "recipe": "r",
          "train_seconds": 1.0, "context_samples": 100,
          "eval": {"full": {"nll_bits": nll, "ci95_bits": 0.1, "split": "test",
                            "references": {"previous_sample": previous,
                                           "linear_prediction": previous - 1.0,
                                           "marginal": 8.0}}}}


def test_runs_no_better_than_the_previous_sample_are_marked_not_dropped():
  rng = np.random.default_rng(3)
  good = list(4 + 0.2 * rng.random(2))
  runs = [_scored("a.seed0", "a", 0, good[0]), _scored("a.seed1", "a", 1, 5.4),
          _scored("a.seed2", "a", 2, good[1])]
  assert [seeds.above_previous_sample(r["eval"]["full"]) for r in runs] == [
      False, True, False]
  # Equal to the reference is no better than it; no reference, nothing to judge.
  assert seeds.above_previous_sample({"nll_bits": 5.0, "references": {
      "previous_sample": 5.0}})
  assert not seeds.above_previous_sample({"nll_bits": 9.0, "references": {}})
  results = {"study": "s", "command": "c", "runs": runs, "truncated": None,
             "seeds": {"full": seeds.summary(runs, "full")}}
  # The failed seed stays in the mean.
  assert results["seeds"]["full"][0]["mean_bits"] == pytest.approx(
      (good[0] + 5.4 + good[1]) / 3)
  for per_run in (True, False):
    text = report.markdown(results, per_run=per_run)
    assert "| a | 0, 1 †, 2 |" in text
    assert text.count("† No better than the previous-sample reference") == 1
  table = report.markdown(results)
  assert "| a.seed1 | cnn_transformer | 1 tokens | 10 | 5.400 ± 0.100 † |" in table
  assert f"| a.seed0 | cnn_transformer | 1 tokens | 10 | {good[0]:.3f} ± 0.100 |" in table
  runs[1]["eval"]["full"]["nll_bits"] = 4.9
  assert "†" not in report.markdown(results)


def test_a_baseline_is_compared_paired_by_seed():
  rng = np.random.default_rng(11)
  base = list(3.7 + 0.3 * rng.standard_normal(5))
  other = list(np.asarray(base) - 0.1 + 0.05 * rng.standard_normal(5))
  runs = _runs({("lr1e-3", 8): base, ("lr2e-3", 8): other})
  for r in runs:
    r["group"] = "family"
  rows = {r["base"]: r for r in seeds.summary(runs, "full", baseline="lr1e-3")}
  assert "minus_baseline" not in rows["lr1e-3"]
  m = rows["lr2e-3"]["minus_baseline"]
  # Paired by seed: scipy's related-samples t-test interval, not Welch's.
  ci = stats.ttest_rel(other, base).confidence_interval()
  assert m["base"] == "lr1e-3" and m["seeds"] == [0, 1, 2, 3, 4]
  assert m["diff_bits"] - m["ci95_bits"] == pytest.approx(ci.low)
  assert m["diff_bits"] + m["ci95_bits"] == pytest.approx(ci.high)
  # Only the seeds both trained pair up.
  short = [r for r in runs if not (r["base"] == "lr2e-3" and r["seed"] in (0, 4))]
  m = {r["base"]: r for r in seeds.summary(short, "full", "lr1e-3")}["lr2e-3"][
      "minus_baseline"]
  assert m["seeds"] == [1, 2, 3]
  assert m["diff_bits"] == pytest.approx(np.mean(np.subtract(other, base)[1:4]))
  # The over-seeds table gets the column; a study without a baseline does not.
  text = report.markdown({"study": "s", "command": "c", "runs": [
      _scored(r["name"], r["base"], r["seed"], r["eval"]["full"]["nll_bits"])
      | {"group": "family", "x": r["base"]} for r in runs], "truncated": None,
      "seeds": {"full": seeds.summary(runs, "full", "lr1e-3")}})
  assert "minus lr1e-3, paired |" in text and "paired by seed" in text
  assert "| lr1e-3 | 0, 1, 2, 3, 4 |" in text
  assert "minus lr1e-3" not in report.markdown({
      "study": "s", "command": "c", "runs": [_scored("a", "a", 0, 3.0)],
      "truncated": None, "seeds": None})
  # A baseline must name an entry of a study trained at 2 or more seeds.
  for fields in ({"baseline": "nope", "seeds": (0, 1)}, {"baseline": "a"},
                 {"baseline": "a", "seeds": (0,)}):
    with pytest.raises(ValueError, match="baseline .* must name one of the runs"):
      plan.plan(_study(**fields))
  assert len(plan.plan(_study(baseline="a", seeds=(0, 1)))) == 4
