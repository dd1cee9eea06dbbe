"""Training: exact resume after SIGKILL, determinism, sharded == unsharded, learning,
profiling, SIGTERM, NaN handling, and config errors."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from audiolm_jax.training import config as train_config, loop

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "configs", "default.py")


def _run(workdir, data_dir, *overrides, env=None, check=True, devices=1, timeout=300):
  """Runs the training CLI in a fresh process (so XLA flags and signals are real)."""
  cmd = [sys.executable, "-m", "audiolm_jax.train", f"--config={CONFIG}:tiny",
         f"--workdir={workdir}", f"--config.data.data_dir={data_dir}", *overrides]
  full_env = {**os.environ, "AUDIOLM_NO_PROGRESS": "1", **(env or {})}
  full_env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True,
                        timeout=timeout, cwd=REPO)
  if check and proc.returncode != 0:
    raise AssertionError(f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-3000:]}")
  return proc


def _params(workdir, step):
  """A checkpoint's parameters on this process's one device, whatever wrote it."""
  path = os.path.abspath(os.path.join(workdir, "checkpoints", str(step), "state"))
  checkpointer = ocp.StandardCheckpointer()
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
      checkpointer.metadata(path).item_metadata.tree)
  return checkpointer.restore(path, target)["params"]


def _losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [(r["step"], r["loss_bits"]) for r in map(json.loads, f)
            if r["split"] == "train"]


def _assert_trees_equal(a, b, rtol=0.0, atol=0.0):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b) > 0
  for x, y in zip(leaves_a, leaves_b):
    if rtol == atol == 0.0:
      np.testing.assert_array_equal(x, y)
    else:
      np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


STEPS = ("--config.num_steps=6", "--config.checkpoint_every=3",
         "--config.log_every=1", "--config.eval_every=0")


def test_resume_after_sigkill_equals_a_straight_run(tmp_path, tiny_data_dir):
  straight, resumed = tmp_path / "straight", tmp_path / "resumed"
  _run(straight, tiny_data_dir, *STEPS)
  killed = _run(resumed, tiny_data_dir, *STEPS, check=False,
                env={loop.FAULT_KILL_AFTER_CHECKPOINT: "3"})
  assert killed.returncode == -signal.SIGKILL
  assert not os.path.exists(resumed / "checkpoints" / "6")
  out = _run(resumed, tiny_data_dir, *STEPS)
  assert "resumed from step 3" in out.stdout
  _assert_trees_equal(_params(straight, 6), _params(resumed, 6))  # bitwise
  assert _losses(straight)[3:] == _losses(resumed)[3:]


def _tensorboard_events(workdir):
  """(step, tag or "purge") of every event in the run's TensorBoard files, in order."""
  import struct  # pylint: disable=g-import-not-at-top
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  events = []
  for path in sorted(glob.glob(os.path.join(workdir, "tensorboard", "events.*"))):
    data = open(path, "rb").read()
    i = 0
    while i < len(data):  # TFRecord: u64 length, u32 crc, payload, u32 crc
      (n,) = struct.unpack("<Q", data[i:i + 8])
      event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
      i += 12 + n + 4
      if event.HasField("session_log"):
        events.append((event.step, "purge"))
      events += [(event.step, v.tag) for v in event.summary.value]
  return events


def test_after_a_resume_every_step_is_logged_once(tmp_path, tiny_data_dir):
  """A crash after step 5 (checkpoint at 3): steps 4-5 were logged, then rerun."""
  killed = _run(tmp_path, tiny_data_dir, *STEPS, check=False,
                env={loop.FAULT_KILL_AT_STEP: "4"})
  assert killed.returncode == -signal.SIGKILL
  assert [s for s, _ in _losses(tmp_path)] == [1, 2, 3, 4]
  _run(tmp_path, tiny_data_dir, *STEPS)
  assert [s for s, _ in _losses(tmp_path)] == [1, 2, 3, 4, 5, 6]
  # TensorBoard: the resumed writer purges from step 4, so a reader keeps the loss
  # of each step once (TensorBoard drops earlier events at steps >= the purge step).
  kept = []
  for step, tag in _tensorboard_events(tmp_path):
    if tag == "purge":
      kept = [(s, t) for s, t in kept if s < step]
    else:
      kept.append((step, tag))
  assert [s for s, t in kept if t == "train/loss_bits"] == [1, 2, 3, 4, 5, 6]


def test_two_runs_with_one_seed_are_identical(tmp_path, tiny_data_dir):
  _run(tmp_path / "a", tiny_data_dir, *STEPS)
  # Compiled anew, not read back from the cache run a wrote: two compiles of the
  # same program must give the same numbers too.
  _run(tmp_path / "b", tiny_data_dir, *STEPS,
       env={"JAX_ENABLE_COMPILATION_CACHE": "false"})
  _run(tmp_path / "c", tiny_data_dir, *STEPS, "--config.seed=1")
  assert _losses(tmp_path / "a") == _losses(tmp_path / "b")
  assert _losses(tmp_path / "a") != _losses(tmp_path / "c")


def test_four_devices_equal_one(tmp_path, tiny_data_dir):
  args = ("--config.num_steps=3", "--config.checkpoint_every=3",
          "--config.eval_every=0")
  _run(tmp_path / "one", tiny_data_dir, *args, devices=1)
  out = _run(tmp_path / "four", tiny_data_dir, *args, devices=4)
  assert "4 device(s)" in out.stdout
  _assert_trees_equal(_params(tmp_path / "one", 3), _params(tmp_path / "four", 3),
                      rtol=2e-5, atol=2e-6)


def test_loss_falls_and_profile_window_writes_a_trace(tmp_path, tiny_data_dir):
  out = _run(tmp_path, tiny_data_dir, "--config.num_steps=120",
             "--config.log_every=1", "--config.eval_every=0",
             "--config.checkpoint_every=120", "--config.profile.start_step=3",
             "--config.profile.num_steps=2")
  losses = [loss for _, loss in _losses(tmp_path)]
  assert len(losses) == 120
  # 8 bits is a uniform guess; the marginal histogram is worth ~7.4 bits on this
  # data. Beating the marginal needs the model to use its context.
  assert np.mean(losses[:5]) > 7.6 and np.mean(losses[-10:]) < 7.0, losses
  final = json.load(open(tmp_path / "final_metrics.json"))["validation"]
  assert np.isfinite(final["nll_bits"]) and final["samples"] == 8 * 256
  traces = glob.glob(str(tmp_path / "profile" / "**" / "*.xplane.pb"), recursive=True)
  assert traces, out.stdout
  assert glob.glob(str(tmp_path / "tensorboard" / "events.out.tfevents.*"))


def test_sigterm_saves_a_restorable_checkpoint(tmp_path, tiny_data_dir):
  cmd = [sys.executable, "-m", "audiolm_jax.train", f"--config={CONFIG}:tiny",
         f"--workdir={tmp_path}", f"--config.data.data_dir={tiny_data_dir}",
         "--config.num_steps=100000", "--config.checkpoint_every=100000",
         "--config.log_every=1", "--config.eval_every=0"]
  proc = subprocess.Popen(cmd, env={**os.environ, "AUDIOLM_NO_PROGRESS": "1"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, cwd=REPO)
  try:
    deadline = time.time() + 120
    metrics = tmp_path / "metrics.jsonl"
    while time.time() < deadline and (not metrics.exists()
                                      or len(metrics.read_text().splitlines()) < 3):
      time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
  finally:
    proc.kill()
  assert proc.returncode == 0, out
  steps = [int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()]
  assert len(steps) == 1 and steps[0] >= 3, out
  assert f"SIGTERM: saved step {steps[0]}" in out
  resumed = _run(tmp_path, tiny_data_dir, f"--config.num_steps={steps[0] + 2}",
                 "--config.eval_every=0")
  assert f"resumed from step {steps[0]}" in resumed.stdout


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path,
                                                              tiny_data_dir):
  out = _run(tmp_path, tiny_data_dir, *STEPS, check=False,
             env={loop.FAULT_NAN_AT_STEP: "4"})
  assert out.returncode == 1
  assert "non-finite training loss" in out.stderr and "step 4" in out.stderr
  steps = sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit())
  assert steps == [3]
  params = _params(tmp_path, 3)
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(params))


def test_an_infinite_gradient_with_a_finite_loss_is_never_checkpointed(
    tmp_path, tiny_data_dir):
  """The bfloat16-overflow case: step 4's loss is finite, its gradient is not, so the
  state after it (which would be checkpointed at step 6) holds NaN."""
  out = _run(tmp_path, tiny_data_dir, *STEPS, check=False,
             env={loop.FAULT_INF_GRAD_AT_STEP: "4"})
  assert out.returncode == 1, out.stdout[-2000:]
  assert "non-finite gradient (global norm inf)" in out.stderr
  assert "updated parameters at step 4" in out.stderr
  assert "training loss" not in out.stderr  # the loss itself was finite
  steps = sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit())
  assert steps == [3]
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(_params(tmp_path, 3)))
  logged = [step for step, _ in _losses(tmp_path)]
  assert logged == [1, 2, 3, 4]  # step 4 (0-based) never reached the log


def test_a_workdir_of_another_model_is_refused(tmp_path, tiny_data_dir):
  _run(tmp_path, tiny_data_dir, "--config.num_steps=2", "--config.eval_every=0")
  out = _run(tmp_path, tiny_data_dir, "--config.num_steps=4", "--config.eval_every=0",
             "--config.model.token_dim=16", check=False)
  assert out.returncode == 2  # nothing done: fix the command (cli.EXIT_USAGE)
  assert "model.token_dim: checkpoint 32, config 16" in out.stderr
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2"]


def _tiny_config(**changes):
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location("default_config", CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("tiny")
  for key, value in changes.items():
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


@pytest.mark.parametrize("changes, message", [
    ({"model.context": 100}, "context=100 is not a multiple of chunk_size=32"),
    ({"batch_size": 6}, "batch_size=6 must be a positive multiple of the 4 devices"),
    ({"data.dataset": "librispeech"}, "data.dataset='librispeech'; use one of"),
    ({"data.dataset": "youtube_mix"}, "needs data.manual_dir"),
    ({"objective": "both"}, "objective='both'"),
    ({"data.recipe": "a_law"}, "data.recipe='a_law'; use one of"),
    ({"data.recipe": "linear"}, "makes linear codes but model.quantization='mu_law'"),
    ({"data.recipe": "sashimi", "model.quantization": "linear"},
     "makes mu_law codes but model.quantization='linear'"),
])
def test_config_errors_before_compiling(changes, message, tmp_path):
  config = _tiny_config(**{"data.data_dir": str(tmp_path), **changes})
  with pytest.raises(ValueError, match=message):
    train_config.checked_model(config, device_count=4)


def test_a_linear_model_trains_on_the_linear_recipe(tmp_path, tiny_data_dir):
  from audiolm_jax.training import loop  # pylint: disable=g-import-not-at-top
  config = _tiny_config(**{"data.data_dir": tiny_data_dir, "data.recipe": "linear",
                           "model.quantization": "linear", "num_steps": 2,
                           "eval_every": 0, "checkpoint_every": 2, "eval_windows": 2})
  result = loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert result["step"] == 2 and np.isfinite(result["validation"]["nll_bits"])
  path = os.path.join(tiny_data_dir, "music21_piano", "tiny_numpy", "2.0.0")
  assert os.path.isfile(os.path.join(path, "flat", "linear", "train.u8"))


def test_cli_reports_config_errors(tmp_path, tiny_data_dir):
  out = _run(tmp_path, tiny_data_dir, "--config.model.context=100", check=False)
  assert out.returncode == 2 and "context=100 is not a multiple" in out.stderr
  out = _run(tmp_path, tiny_data_dir, "--config.model.contxt=128", check=False)
  assert out.returncode == 2 and "contxt" in out.stderr
