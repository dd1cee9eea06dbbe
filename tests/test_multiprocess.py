"""Several JAX processes on 127.0.0.1 (jax.distributed + gloo), as on a cluster."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from audiolm_jax.training import loop
from test_train import CONFIG, REPO, _assert_trees_equal, _params, _run

STEPS = ("--config.num_steps=3", "--config.checkpoint_every=3",
         "--config.eval_every=0", "--config.log_every=1")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_match_one_and_restore_on_one_device(tmp_path, tiny_data_dir):
  two, one = tmp_path / "two", tmp_path / "one"
  cmd = ["bash", os.path.join(REPO, "launch", "local.sh"), "--processes", "2",
         "--devices", "2", "--port", str(_free_port()), "--",
         f"--config={CONFIG}:tiny", f"--workdir={two}",
         f"--config.data.data_dir={tiny_data_dir}", *STEPS]
  proc = subprocess.run(cmd, env={**os.environ, "PYTHON": sys.executable,
                                  "AUDIOLM_NO_PROGRESS": "1"},
                        capture_output=True, text=True, timeout=300, cwd=REPO)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  assert "4 device(s) in 2 process(es)" in proc.stdout
  _run(one, tiny_data_dir, *STEPS, devices=4)
  # Same global batches row for row, same dropout masks: float32 rounding only.
  _assert_trees_equal(_params(two, 3), _params(one, 3), rtol=2e-5, atol=2e-6)
  # The 2-process checkpoint restores in 1 process with 1 device and trains on.
  out = _run(two, tiny_data_dir, "--config.num_steps=5", "--config.checkpoint_every=5",
             "--config.eval_every=0", devices=1)
  assert "resumed from step 3 in" in out.stdout and "written by 2 processes" in out.stdout
  assert sorted(os.listdir(two / "checkpoints")) == ["3", "5"]


def test_a_dead_process_stops_the_others_and_keeps_the_checkpoint(tmp_path,
                                                                   tiny_data_dir):
  port = _free_port()
  procs = []
  for i in range(2):
    env = {**os.environ, "AUDIOLM_NO_PROGRESS": "1",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
           "AUDIOLM_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
           "AUDIOLM_NUM_PROCESSES": "2", "AUDIOLM_PROCESS_ID": str(i)}
    if i == 1:
      env[loop.FAULT_KILL_AFTER_CHECKPOINT] = "3"
    cmd = [sys.executable, "-m", "audiolm_jax.train", f"--config={CONFIG}:tiny",
           f"--workdir={tmp_path}", f"--config.data.data_dir={tiny_data_dir}",
           "--config.num_steps=100000", "--config.checkpoint_every=3",
           "--config.eval_every=0", "--heartbeat_timeout_s=10"]
    procs.append(subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True))
  try:
    assert procs[1].wait(timeout=240) == -signal.SIGKILL
    killed_at = time.time()
    procs[0].wait(timeout=180)
    waited = time.time() - killed_at
  finally:
    for p in procs:
      p.kill()
  out = procs[0].stdout.read()
  assert procs[0].returncode != 0, out[-3000:]
  assert waited < 150, waited  # the survivor gives up instead of hanging
  params = _params(tmp_path, 3)
  assert params and "3" in os.listdir(tmp_path / "checkpoints")
