"""Compiling train.py's step for TPU slices on this CPU (libtpu's compiler, no TPU):
slice names, batch splitting, the compiled program's memory, FLOPs and collectives,
the --topology command's exit statuses, and libtpu's silence elsewhere."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from audiolm_jax import count_params
from audiolm_jax.aot import collectives, libtpu, report, slices
from audiolm_jax.aot import compile as aot
from audiolm_jax.training import config as train_config
from audiolm_jax.training import config_loader

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_libtpu = pytest.mark.skipif(not libtpu.installed(),
                                  reason="libtpu not installed (the tpu extra)")


@pytest.mark.parametrize("name, kind, shape", [
    ("v4-8", "v4", (2, 2, 1)), ("v5p-8", "v5p", (2, 2, 1)),
    ("v5p-128", "v5p", (4, 4, 4)), ("v5litepod-4", "v5e", (2, 2)),
    ("v5e-4", "v5e", (2, 2)), ("v5e-256", "v5e", (16, 16)), ("v6e-8", "v6e", (2, 4)),
    ("v5e:2x2", "v5e", (2, 2)), ("v5p:2x2x1", "v5p", (2, 2, 1)),
    ("v4:2x2x2", "v4", (2, 2, 2))])
def test_slice_names_resolve_to_chips_and_topologies(name, kind, shape):
  s = slices.resolve(name)
  assert (s.chip.kind, s.shape) == (kind, shape)
  # v4 and v5p names count TensorCores (two a chip), v5e and v6e names count chips.
  cores = s.chips * s.chip.cores_per_chip
  assert s.rental_name.endswith(f"-{cores}")
  assert s.topology.startswith("v5:" if kind == "v5p" else f"{kind}:")


@pytest.mark.parametrize("name", ["v5p-6", "v5e-3", "v7-8", "tpu", "v5e:2x2x2", "v4:2x2"])
def test_an_unknown_slice_is_one_line_listing_the_known_ones(name):
  with pytest.raises(slices.UnknownSliceError) as e:
    slices.resolve(name)
  message = str(e.value)
  assert "\n" not in message and repr(name) in message
  assert "v5p-8" in message and "v5litepod-4" in message


def test_a_batch_that_does_not_split_is_refused_with_the_nearest_that_do():
  assert report.split_batch(40, 4, False) == (40, "")
  with pytest.raises(report.BatchSplitError) as e:
    report.split_batch(40, 256, False)
  assert "--config.batch_size=256" in str(e.value) and "--round_batch" in str(e.value)
  with pytest.raises(report.BatchSplitError) as e:
    report.split_batch(42, 4, False)
  assert "--config.batch_size=40 or --config.batch_size=44" in str(e.value)
  batch, note = report.split_batch(1, 4, True)  # SaShiMi's batch of 1 on 4 chips
  assert batch == 4 and "1 per chip" in note


def test_collectives_are_counted_with_their_bytes():
  hlo = """
  %a = f32[10,4]{1,0:T(8,128)} parameter(0)
  %all-reduce.1 = (f32[16]{0:T(128)S(1)}, /*index=1*/bf16[3,8]{1,0}, f32[]{:T(128)}) all-reduce(%x, %y, %z), channel_id=1
  %ag = f32[8,4]{1,0} all-gather-start(%a), dimensions={0}
  %agd = f32[8,4]{1,0} all-gather-done(%ag)
  ROOT %cp.2 = s32[5]{0} collective-permute(%q), source_target_pairs={{0,1}}
  """
  found = {c.kind: (c.count, c.bytes) for c in collectives.summarize(hlo)}
  assert found == {"all-reduce": (1, 16 * 4 + 24 * 2 + 4), "all-gather": (1, 128),
                   "collective-permute": (1, 20)}


def test_missing_libtpu_is_one_line_with_the_install_command(monkeypatch):
  monkeypatch.setattr(libtpu, "installed", lambda: False)
  with pytest.raises(libtpu.LibtpuMissingError) as e:
    libtpu.require()
  assert "\n" not in str(e.value) and ".[tpu]" in str(e.value)


def test_remat_ladder_only_adds_recomputation():
  c = config_loader.load_config_file("configs/million.py")  # encoder remat, blocks of 128
  assert report.remat_ladder(c.model) == [
      {"remat_block": 32, "remat_encoder": True},
      {"remat_block": 8, "remat_encoder": True}]
  wavenet = config_loader.load_config_file("configs/wavenet.py")
  assert report.remat_ladder(wavenet.model) == []


def _small_config():
  """The tiny config, smaller still: each compile takes seconds."""
  c = config_loader.load_config_file("configs/default.py:tiny")
  c.num_targets = 64
  c.model.num_layers = 1
  return c


@pytest.fixture(scope="module")
def compiled():
  """The small step for 4 v5e chips and for 1, at one global batch, and on the CPU."""
  if not libtpu.installed():
    pytest.skip("libtpu not installed (the tpu extra)")
  c = _small_config()
  four = aot.compile_for_slice(c, slices.resolve("v5e-4"))
  one = aot.compile_for_slice(c, slices.resolve("v5e-1"))
  cpu = aot.compile_on_cpu(c, c.batch_size // 4)
  return c, four, one, cpu


@pytest.mark.slow
@needs_libtpu
def test_per_chip_memory_falls_when_the_batch_is_split_over_more_chips():
  # make demo's config at a global batch of 32: big enough that its activations,
  # not a compiler's fixed scratch, decide the temporaries. (The tiny config's
  # temporaries do not grow with its batch: 0 to 8 MB per chip, depending on the
  # libtpu, at any batch; this test then measured nothing.) About 70 s.
  c = config_loader.load_config_file("configs/default.py")
  c.batch_size = 32
  four = aot.compile_for_slice(c, slices.resolve("v5e-4"))
  one = aot.compile_for_slice(c, slices.resolve("v5e-1"))
  assert four.fits and one.fits
  # The activations split four ways (0.22 of one chip's with libtpu 0.0.42.1 and
  # 0.0.50.1); the replicated state does not.
  assert 0.15 * one.temp_bytes < four.temp_bytes < 0.4 * one.temp_bytes
  assert four.total_bytes < 0.5 * one.total_bytes
  # The state (the arguments, less one chip's rows of codes) is the same on both.
  assert abs(four.argument_bytes - one.argument_bytes) < 0.03 * one.argument_bytes


@needs_libtpu
def test_gradients_are_reduced_once_per_step_with_the_parameters_bytes(compiled):
  c, four, one, _ = compiled
  params = count_params(jax.eval_shape(train_config.to_model(c).init,
                                       jax.random.key(0)))
  reduces = [x for x in four.collectives if x.kind == "all-reduce"]
  assert len(reduces) == 1 and reduces[0].count == 1
  # float32 gradients plus a few scalars (the loss and its metrics).
  assert 4 * params <= reduces[0].bytes <= 4 * params + 64
  assert one.collectives == ()  # one chip: nothing to reduce


@needs_libtpu
def test_tpu_flops_per_chip_agree_with_the_cpu_compile(compiled):
  _, four, one, cpu = compiled
  # The CPU compile at one chip's batch (the reports' FLOP count) is within 20% of
  # what the TPU compiler counts for the same program (TPU counts padded shapes and
  # its own fusions; measured 13% here), and the 1-chip count is 4 chips' work.
  assert cpu.flops > 0
  assert 0.8 < four.flops / cpu.flops < 1.2
  assert 3.6 < one.flops / four.flops < 4.4


@needs_libtpu
def test_topology_command_reports_a_fit_and_writes_the_json(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "audiolm_jax.train", "--config=configs/default.py:tiny",
       f"--workdir={tmp_path}", "--topology=v5e:2x2", "--config.num_targets=64",
       "--config.model.num_layers=1"],
      capture_output=True, text=True, cwd=REPO, timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stderr == ""  # no libtpu noise
  assert "FITS:" in proc.stdout and "compiled for the slice, not run" in proc.stdout
  with open(tmp_path / "compile_v5e_2x2.json") as f:
    saved = json.load(f)
  assert saved["fits"] and saved["chips"] == 4 and saved["batch_per_chip"] == 2
  assert saved["flops"]["per_chip_per_step"] > 0
  assert saved["roofline"]["step_s"] > 0 and saved["collectives"][0]["count"] == 1


@needs_libtpu
def test_a_batch_too_big_for_the_chip_is_refused_in_one_line(tmp_path):
  from audiolm_jax import train  # pylint: disable=g-import-not-at-top
  code = train.main(["--config=configs/default.py:tiny", f"--workdir={tmp_path}",
                     "--topology=v5e-4", "--config.num_targets=64",
                     "--config.model.num_layers=1", "--config.batch_size=400000",
                     "--notopology_search"])
  assert code == train.EXIT_DOES_NOT_FIT == 3
  with open(tmp_path / "compile_v5e-4.json") as f:
    saved = json.load(f)
  assert not saved["fits"]
  assert "\n" not in saved["memory"]["error"]
  assert "HBM" in saved["memory"]["error"] or "hbm" in saved["memory"]["error"]


def test_usage_errors_exit_2_in_one_line(tmp_path, capsys):
  from audiolm_jax import train  # pylint: disable=g-import-not-at-top
  common = ["--config=configs/default.py:tiny", f"--workdir={tmp_path}"]
  assert train.main([*common, "--topology=v9-8"]) == 2
  assert train.main([*common, "--topology=v5e-256"]) == 2  # batch 8 over 256 chips
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 2 and "unknown TPU slice" in err[0]
  assert "--config.batch_size=256" in err[1]


def test_libtpu_is_silent_where_no_tpu_is_attached():
  proc = subprocess.run(
      [sys.executable, "-c", "import audiolm_jax, jax; print(jax.devices())"],
      capture_output=True, text=True, cwd=REPO, timeout=120,
      env={k: v for k, v in os.environ.items() if not k.startswith("TPU_")})
  assert proc.returncode == 0 and "CpuDevice" in proc.stdout
  assert proc.stderr == "", proc.stderr


def _fake_planner(monkeypatch, gib_at):
  """A Planner whose compiler is `gib_at(per_chip)` GiB per chip against 16 GiB."""
  planner = object.__new__(report.Planner)
  planner.slice_, planner.say, planner.compiles = slices.resolve("v5e-4"), print, {}
  planner.calls = []

  def fake(per_chip, slice_=None, **changes):
    key = (planner.slice_.topology, per_chip, tuple(sorted(changes.items())))
    if key not in planner.compiles:
      planner.calls.append(per_chip)
      total = int(gib_at(per_chip) * report.GIB)
      planner.compiles[key] = (
          aot.StepCompile(False, 0.0, "Ran out of memory: Used 20G of 16.00G hbm")
          if total > 16 * report.GIB else aot.StepCompile(True, 0.0, temp_bytes=total))
    return planner.compiles[key]

  monkeypatch.setattr(planner, "compile", fake)
  return planner


@needs_libtpu
def test_largest_batch_search_finds_the_boundary(monkeypatch):
  # Memory affine in the batch: the search lands on the exact boundary and confirms
  # that the next batch is refused.
  planner = _fake_planner(monkeypatch, lambda b: 2 + 0.37 * b)
  best, confirmed = planner.largest_batch(64, planner.compile(64), max_compiles=4)
  assert best == int(14 // 0.37) and confirmed
  assert len(planner.calls) <= 7


@needs_libtpu
def test_largest_batch_search_survives_memory_that_is_not_affine(monkeypatch):
  # Seen on v5e (paper_128k, bfloat16): memory per chip at 5, 10, 11, 12, 13
  # windows was 7.6, 14.6, 14.0, 14.7, 15.1 GiB; the affine prediction from 5 and 10
  # says nothing more fits. The search must still find the boundary (here 14: 15.9
  # GiB; 15 is refused), not creep up one batch a compile and stop short.
  table = {5: 7.6, 10: 14.6, 11: 14.0, 12: 14.7, 13: 15.1, 14: 15.9}
  planner = _fake_planner(monkeypatch, lambda b: table.get(b, 16 + b))
  best, confirmed = planner.largest_batch(10, planner.compile(10), max_compiles=4)
  assert (best, confirmed) == (14, True), planner.calls


@needs_libtpu
def test_largest_batch_search_bisects_below_a_refused_prediction(monkeypatch):
  # Seen on v5p (paper_128k, bfloat16): the line through two batches that fit
  # predicted 70 windows; 70, 69 and 68 were refused in turn and the search stopped
  # short. Here memory is affine to 30 windows and refused beyond: the line says 37.
  # Once the line reaches a refused batch the search must bisect, not step down one
  # batch a compile.
  planner = _fake_planner(monkeypatch, lambda b: 2 + 0.37 * b if b <= 30 else 99)
  best, confirmed = planner.largest_batch(10, planner.compile(10), max_compiles=5)
  assert (best, confirmed) == (30, True), planner.calls


@needs_libtpu
def test_an_unfinished_sweep_search_resumes_from_its_compiles(monkeypatch):
  # A largest-batch row whose search stopped short (13 fit, 20 refused, 14 not
  # compiled) is owed by the sweep; rerun, it starts from the row's compiles (no
  # batch compiled twice) and confirms the boundary.
  from audiolm_jax.bench import aot as sweep  # pylint: disable=g-import-not-at-top
  gib_at = lambda b: 2 + 0.9 * b  # 15 fits (15.5 GiB), 16 is refused  # noqa: E731
  calls = []

  def fake(self, per_chip, slice_=None, **changes):
    key = (self.slice_.topology, per_chip, tuple(sorted(changes.items())))
    if key not in self.compiles:
      calls.append(per_chip)
      total = int(gib_at(per_chip) * report.GIB)
      self.compiles[key] = (
          aot.StepCompile(False, 0.0, "Ran out of memory: Used 20G of 16.00G hbm")
          if total > 16 * report.GIB else aot.StepCompile(True, 0.0, temp_bytes=total))
    return self.compiles[key]

  monkeypatch.setattr(report.Planner, "compile", fake)
  planner = object.__new__(report.Planner)
  planner.slice_, planner.compiles = slices.resolve("v5e-4"), {}
  summary = lambda b: report.step_summary(fake(planner, b))  # noqa: E731
  task = next(t for t in sweep.tasks() if t["what"] == "largest")
  done = {task["key"].replace("largest|", "batch40|"): {"batch_per_chip": 10,
                                                         "memory": summary(10)},
          task["key"]: {"what": "largest", "largest_batch_per_chip": 13,
                        "confirmed": False,
                        "compiles": {f"{b}/chip": summary(b) for b in (10, 20, 13)}}}
  assert sweep._unfinished(done[task["key"]])  # pylint: disable=protected-access
  calls.clear()
  row = sweep.run_task(task, done, print)
  assert (row["largest_batch_per_chip"], row["confirmed"]) == (15, True)
  assert not set(calls) & {10, 13, 20} and len(set(calls)) == len(calls), calls
  row["what"] = "largest"
  assert not sweep._unfinished(row)  # pylint: disable=protected-access


def test_every_sweep_task_builds_its_model():
  """The sweep's configs, with the task's dtype, pass the checks `--topology` runs
  (SaShiMi's config has no dtype field: float32 leaves it alone)."""
  from audiolm_jax.bench import aot as sweep  # pylint: disable=g-import-not-at-top
  for task in sweep.tasks():
    model = train_config.checked_model(sweep._config(task), 1, check_data=False)  # pylint: disable=protected-access
    assert getattr(model.config, "dtype", "float32") == task["dtype"], task["key"]
