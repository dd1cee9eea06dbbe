"""Drills on real short runs: damaged checkpoints, two writers, Ctrl-C, a full disk.

Each drill copies one trained workdir (steps 10, 20, 30), breaks it as a user or a
machine would, and checks what the readers and a resumed `train` then do: which step
is restored, the exit status, the message, that a damaged step is set aside and not
deleted, and that the metrics log holds each step once.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from audiolm_jax import evaluate
from audiolm_jax.checkpoints import integrity
from audiolm_jax.checkpoints.run import open_run
from audiolm_jax.training import hooks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "configs", "default.py")
BASE = ("--config.checkpoint_every=10", "--config.eval_every=0",
        "--config.log_every=1", "--config.keep_checkpoints=10")


def _cmd(workdir, data_dir, *overrides):
  return [sys.executable, "-m", "audiolm_jax.train", f"--config={CONFIG}:tiny",
          f"--workdir={workdir}", f"--config.data.data_dir={data_dir}", *BASE,
          *overrides]


def _env():
  return {**os.environ, "AUDIOLM_NO_PROGRESS": "1",
          "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}


def _train(workdir, data_dir, *overrides, timeout=300):
  return subprocess.run(_cmd(workdir, data_dir, *overrides), env=_env(),
                        capture_output=True, text=True, timeout=timeout, cwd=REPO)


def _start(workdir, data_dir, *overrides):
  return subprocess.Popen(_cmd(workdir, data_dir, "--config.num_steps=100000",
                               *overrides), env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, cwd=REPO)


def _wait_for_steps(workdir, n, proc, timeout=120):
  metrics = os.path.join(workdir, "metrics.jsonl")
  deadline = time.time() + timeout
  while time.time() < deadline:
    if os.path.exists(metrics) and len(open(metrics).read().splitlines()) >= n:
      return
    assert proc.poll() is None, proc.communicate()[0]
    time.sleep(0.2)
  raise AssertionError(f"{n} steps not logged in {timeout} s")


def _steps(workdir):
  return sorted(int(d) for d in os.listdir(os.path.join(workdir, "checkpoints"))
                if d.isdigit())


def _logged_steps(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r["step"] for r in map(json.loads, f) if r["split"] == "train"]


def _evaluate(workdir, capsys, *flags):
  code = evaluate.main([f"--workdir={workdir}", "--split=test",
                        "--max_seconds_per_file=0.25", "--batch=2", *flags])
  return code, capsys.readouterr()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data_dir):
  """A workdir with checkpoints 10, 20 and 30 of the tiny model."""
  workdir = str(tmp_path_factory.mktemp("trained") / "run")
  out = _train(workdir, tiny_data_dir, "--config.num_steps=30")
  assert out.returncode == 0, out.stderr[-3000:]
  assert _steps(workdir) == [10, 20, 30]
  return workdir


@pytest.fixture
def run_copy(trained, tmp_path):
  workdir = str(tmp_path / "run")
  shutil.copytree(trained, workdir)
  return workdir


def _flip_bytes(path, n=64):
  size = os.path.getsize(path)
  with open(path, "r+b") as f:
    f.seek(size // 2)
    data = f.read(n)
    f.seek(size // 2)
    f.write(bytes(b ^ 0xFF for b in data))


def _data_files(step_dir):
  return [p for p in glob.glob(os.path.join(step_dir, "state", "**", "d", "*"),
                               recursive=True) if os.path.isfile(p)]


def _alter_array(step_dir, key):
  """Rewrites the step's state with array `key`'s first value one ulp larger, its
  checksum record left as saved: data files altered so that they still decode, which
  only the checksum can tell."""
  path = os.path.join(step_dir, "state")
  checkpointer = ocp.StandardCheckpointer()
  cpu = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=cpu),
                        checkpointer.metadata(path).item_metadata.tree)
  flat, treedef = jax.tree_util.tree_flatten_with_path(
      jax.tree.map(np.array, checkpointer.restore(path, target)))
  names = [integrity._key(p) for p, _ in flat]  # pylint: disable=protected-access
  leaf = flat[names.index(key)][1]
  leaf.flat[0] = np.nextafter(leaf.flat[0], np.float32(np.inf))
  checkpointer.save(path + ".altered",
                    jax.tree_util.tree_unflatten(treedef, [x for _, x in flat]))
  checkpointer.wait_until_finished()
  checkpointer.close()
  shutil.rmtree(path)
  os.rename(path + ".altered", path)


PARAM, OPT = "params/head/logits/bias", "opt_state/1/0/mu/head/logits/kernel"


def test_altered_parameters_are_named_by_the_checksum(run_copy, tiny_data_dir, capsys):
  _alter_array(os.path.join(run_copy, "checkpoints", "30"), PARAM)
  code, out = _evaluate(run_copy, capsys)
  assert code == 2
  assert (f"checkpoint step 30 in {os.path.join(run_copy, 'checkpoints', '30')} is "
          f"damaged: array {PARAM} does not match the checksum saved with it") in out.err
  assert "Pass --step with another step ([10, 20])" in out.err
  code, out = _evaluate(run_copy, capsys, "--step=20")
  assert code == 0, out.err
  with open(os.path.join(run_copy, "eval_test_full.json")) as f:
    assert json.load(f)["step"] == 20

  resumed = _train(run_copy, tiny_data_dir, "--config.num_steps=40")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f"array {PARAM} does not match the checksum" in resumed.stdout
  assert "resumed from step 20, the newest intact one" in resumed.stdout
  moved = os.path.join(run_copy, "damaged_checkpoints", "30")
  assert os.path.isdir(os.path.join(moved, "state"))  # set aside, not deleted
  assert _steps(run_copy) == [10, 20, 30, 40]  # 30 trained again from 20
  assert _logged_steps(run_copy) == list(range(1, 41))


def test_altered_optimizer_state_is_refused_only_where_it_is_read(
    run_copy, tiny_data_dir, capsys):
  """`evaluate` reads the parameters alone, and they are intact; `train` reads the
  optimizer's moments too, and refuses the step by the altered array's name."""
  _alter_array(os.path.join(run_copy, "checkpoints", "30"), OPT)
  code, out = _evaluate(run_copy, capsys)
  assert code == 0, out.err
  with open(os.path.join(run_copy, "eval_test_full.json")) as f:
    assert json.load(f)["step"] == 30
  resumed = _train(run_copy, tiny_data_dir, "--config.num_steps=30")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert (f"checkpoint step 30 in {os.path.join(run_copy, 'checkpoints', '30')} is "
          f"damaged: array {OPT} does not match the checksum") in resumed.stdout
  assert "resumed from step 20, the newest intact one" in resumed.stdout
  assert os.path.isdir(os.path.join(run_copy, "damaged_checkpoints", "30", "state"))


def test_flipped_bytes_are_refused_by_readers_and_skipped_by_training(
    run_copy, tiny_data_dir, capsys):
  """Bytes flipped in every data file, the array index among them: Orbax cannot read
  the step back, which is named as that, not as a crash."""
  for path in _data_files(os.path.join(run_copy, "checkpoints", "30")):
    _flip_bytes(path)
  code, out = _evaluate(run_copy, capsys)
  assert code == 2
  assert ("checkpoint step 30 in " in out.err and "is damaged: the index of its "
          "arrays under state/ cannot be read" in out.err), out.err[-2000:]
  resumed = _train(run_copy, tiny_data_dir, "--config.num_steps=30")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "checkpoint step 30" in resumed.stdout and "DATA_LOSS" in resumed.stdout
  # The failed restore's late reads print no tracebacks (they printed dozens).
  for noise in ("Event loop is closed", "Task exception was never retrieved"):
    assert noise not in resumed.stderr, resumed.stderr[-2000:]
  assert "resumed from step 20, the newest intact one" in resumed.stdout
  assert os.path.isdir(os.path.join(run_copy, "damaged_checkpoints", "30", "state"))


def test_a_step_without_its_checksum_record_is_named_damage(run_copy, tiny_data_dir,
                                                            capsys):
  """As a step saved before records existed would be: set aside, never trusted on
  finite values alone."""
  shutil.rmtree(os.path.join(run_copy, "checkpoints", "30", "integrity"))
  code, out = _evaluate(run_copy, capsys)
  assert code == 2
  assert "step 30" in out.err and integrity.NO_RECORD in out.err
  resumed = _train(run_copy, tiny_data_dir, "--config.num_steps=30")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert integrity.NO_RECORD in resumed.stdout
  assert "resumed from step 20, the newest intact one" in resumed.stdout
  assert os.path.isdir(os.path.join(run_copy, "damaged_checkpoints", "30", "state"))


def test_missing_or_unreadable_metadata_counts_as_damage(run_copy, tiny_data_dir,
                                                         capsys, tmp_path):
  sharding = str(tmp_path / "sharding")
  shutil.copytree(run_copy, sharding)
  with open(os.path.join(sharding, "checkpoints", "30", "state", "_sharding"),
            "w") as f:
    f.write("{not json")
  code, out = _evaluate(sharding, capsys)
  assert code == 2
  assert "its metadata file state/_sharding is unreadable" in out.err
  assert "AttributeError" not in out.err

  os.remove(os.path.join(run_copy, "checkpoints", "30", "state", "_METADATA"))
  resumed = _train(run_copy, tiny_data_dir, "--config.num_steps=30")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "its metadata file state/_METADATA is missing" in resumed.stdout
  assert "resumed from step 20" in resumed.stdout
  assert os.path.isdir(os.path.join(run_copy, "damaged_checkpoints", "30"))
  assert _logged_steps(run_copy) == list(range(1, 31))


def test_a_second_writer_is_refused_and_ctrl_c_saves_the_current_step(
    run_copy, tiny_data_dir):
  first = _start(run_copy, tiny_data_dir)
  try:
    _wait_for_steps(run_copy, 33, first)
    second = _train(run_copy, tiny_data_dir, "--config.num_steps=50")
    assert second.returncode == 1
    # Refused before building the model or compiling (what it prints after the lock).
    assert "model:" not in second.stdout and "compiled step" not in second.stdout
    assert (f"is in use by another train process (PID {first.pid} on host"
            in second.stderr)
    first.send_signal(signal.SIGINT)
    out, _ = first.communicate(timeout=120)
  finally:
    first.kill()
  assert first.returncode == 130, out
  assert "Traceback" not in out and "KeyboardInterrupt" not in out
  saved = max(_steps(run_copy))
  assert saved > 30 and f"Ctrl-C: saved step {saved}, exiting" in out
  resumed = _train(run_copy, tiny_data_dir, f"--config.num_steps={saved + 2}")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f"resumed from step {saved} in" in resumed.stdout
  assert "took over" not in resumed.stdout  # the first run released its lock
  assert _logged_steps(run_copy) == list(range(1, saved + 3))


def test_a_second_ctrl_c_aborts_at_once():
  """In-process: a subprocess's two signals would race its exit."""
  before = signal.getsignal(signal.SIGINT)  # SIG_IGN in a shell's background job
  stop = hooks.Preemption()
  try:
    assert not stop.reached(0)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)  # the handler runs between bytecodes
    assert stop.reached(1) and stop.interrupted and stop.signal_name == "Ctrl-C"
    with pytest.raises(KeyboardInterrupt):
      os.kill(os.getpid(), signal.SIGINT)
      time.sleep(0.05)
  finally:
    stop.close()
  assert signal.getsignal(signal.SIGINT) is before


def test_a_lock_left_by_a_dead_process_is_taken_over(run_copy, tiny_data_dir):
  proc = _start(run_copy, tiny_data_dir)
  try:
    _wait_for_steps(run_copy, 32, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
  finally:
    proc.kill()
  resumed = _train(run_copy, tiny_data_dir, "--config.num_steps=32")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert (f"took over the lock of {run_copy} left by a train process that is no "
          f"longer running (PID {proc.pid} on host") in resumed.stdout
  assert _logged_steps(run_copy) == list(range(1, 33))


@pytest.fixture
def small_disk(tmp_path, trained):
  """A tmpfs with room for the run's logs and one checkpoint step, not two."""
  step_bytes = sum(os.path.getsize(os.path.join(r, f))
                   for r, _, fs in os.walk(os.path.join(trained, "checkpoints", "10"))
                   for f in fs)
  mount = tmp_path / "disk"
  mount.mkdir()
  size_kib = int(step_bytes * 1.6) // 1024 + 64
  done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs",
                         str(mount)], capture_output=True, text=True)
  if done.returncode != 0:
    pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()})")
  yield str(mount)
  subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_clear_line_and_keeps_the_last_good_step(
    small_disk, tiny_data_dir, capsys):
  workdir = os.path.join(small_disk, "run")
  out = _train(workdir, tiny_data_dir, "--config.num_steps=40")
  assert out.returncode == 1
  errors = [line for line in out.stderr.splitlines() if line.strip()]
  assert len(errors) == 1, out.stderr[-3000:]
  assert errors[0].startswith(
      f"error: could not write the checkpoint of step 20 to {workdir}/checkpoints: "
      "the disk is full (")
  assert "MiB free" in errors[0] and "Step 10 is kept" in errors[0]
  assert not glob.glob(os.path.join(workdir, "checkpoints", "*tmp*"))
  assert _steps(workdir) == [10]
  run = open_run(workdir)
  params, step = run.params, run.step
  assert step == 10
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))
