"""Several JAX processes on 127.0.0.1 (jax.distributed + gloo), as on a cluster."""

import os
import signal
import socket
import subprocess
import sys
import time

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


def _launch(workdir, data_dir, *args, port):
  """launch/local.sh with 2 processes x 1 device, as a Popen."""
  cmd = ["bash", os.path.join(REPO, "launch", "local.sh"), "--processes", "2",
         "--devices", "1", "--port", str(port), "--", f"--config={CONFIG}:tiny",
         f"--workdir={workdir}", f"--config.data.data_dir={data_dir}",
         "--config.eval_every=0", "--config.log_every=1", *args]
  return subprocess.Popen(cmd, env={**os.environ, "PYTHON": sys.executable,
                                    "AUDIOLM_NO_PROGRESS": "1"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=REPO)


def _logged_steps(workdir):
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.isfile(path):
    return 0
  with open(path) as f:
    return len(f.readlines())


def _signal_mid_run(workdir, data_dir, signum, processes) -> tuple[int, str]:
  """(exit status, output) of a 2-process run whose processes `processes` (by
  index) got `signum` once 3 steps were logged."""
  launcher = _launch(workdir, data_dir, "--config.num_steps=100000",
                     "--config.checkpoint_every=100000", port=_free_port())
  try:
    deadline = time.time() + 240
    while _logged_steps(workdir) < 3 and time.time() < deadline:
      time.sleep(0.2)
    children = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True,
                              text=True).stdout.split()
    assert len(children) == 2, children
    for index in processes:  # children in start order: process 0, then process 1
      os.kill(int(sorted(children, key=int)[index]), signum)
    out, _ = launcher.communicate(timeout=180)
  finally:
    launcher.kill()
  return launcher.returncode, out


def test_sigterm_to_one_process_saves_one_step_on_both_and_resumes_exactly(
    tmp_path, tiny_data_dir):
  """Preemption seen by process 1 only: JAX's preemption sync point makes both
  processes save the same step and exit 0; the resumed run equals a straight one."""
  preempted, straight = tmp_path / "preempted", tmp_path / "straight"
  # The second child started second: process 1. Only it gets the signal.
  code, out = _signal_mid_run(preempted, tiny_data_dir, signal.SIGTERM, processes=[1])
  assert code == 0, out[-3000:]
  saved = [int(d) for d in os.listdir(preempted / "checkpoints") if d.isdigit()]
  assert len(saved) == 1 and saved[0] >= 3, (saved, out[-2000:])
  assert f"SIGTERM: saved step {saved[0]}, exiting" in out
  end = saved[0] + 2
  resumed = _launch(preempted, tiny_data_dir, f"--config.num_steps={end}",
                    f"--config.checkpoint_every={end}", port=_free_port())
  out, _ = resumed.communicate(timeout=240)
  assert resumed.returncode == 0 and f"resumed from step {saved[0]}" in out, out[-3000:]
  plain = _launch(straight, tiny_data_dir, f"--config.num_steps={end}",
                  f"--config.checkpoint_every={end}", port=_free_port())
  out, _ = plain.communicate(timeout=240)
  assert plain.returncode == 0, out[-3000:]
  _assert_trees_equal(_params(preempted, end), _params(straight, end))  # bitwise


def test_ctrl_c_reaching_every_process_saves_one_step_on_both(tmp_path,
                                                             tiny_data_dir):
  """A terminal's Ctrl-C reaches every process, each at its own step: the SIGINT is
  passed to JAX's preemption sync point, so both save the same step, then exit 130."""
  code, out = _signal_mid_run(tmp_path, tiny_data_dir, signal.SIGINT,
                              processes=[0, 1])
  assert code == 130, out[-3000:]
  saved = [int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()]
  assert len(saved) == 1 and saved[0] >= 3, (saved, out[-2000:])
  assert f"Ctrl-C: saved step {saved[0]}, exiting" in out
  assert "Traceback" not in out
