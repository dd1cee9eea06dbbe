"""Launch scripts: their --dry-run commands, and shellcheck where it is installed."""

import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ["launch/local.sh", "launch/slurm.sbatch", "launch/tpu_vm.sh"]


def _dry(*args):
  out = subprocess.run(["bash", *args], capture_output=True, text=True, cwd=REPO,
                       check=True, timeout=30)
  return [line.strip() for line in out.stdout.strip().splitlines()]


def test_local_dry_run_starts_one_process_per_rank():
  lines = _dry("launch/local.sh", "--dry-run", "--processes", "3", "--devices", "2",
               "--port", "4242", "--", "--config", "configs/default.py:tiny",
               "--workdir", "/tmp/r")
  assert len(lines) == 3
  for i, line in enumerate(lines):
    assert f"AUDIOLM_PROCESS_ID={i}" in line and "AUDIOLM_NUM_PROCESSES=3" in line
    assert "127.0.0.1:4242" in line and "device_count=2" in line
    assert line.endswith("--workdir /tmp/r")


def test_slurm_and_tpu_dry_runs():
  (srun,) = _dry("launch/slurm.sbatch", "--dry-run", "--config", "c.py",
                 "--workdir", "/shared/r")
  assert srun.startswith("srun --gpus-per-task=1") and "audiolm_jax.train" in srun
  lines = _dry("launch/tpu_vm.sh", "--dry-run", "--name", "n", "--zone", "z", "--",
               "--workdir", "gs://b/r")
  assert "tpu-vm create n" in lines[0] and "--worker=all" in lines[-1]
  assert "audiolm_jax.train" in lines[-1]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck missing: the launch scripts are not linted")
@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck(script):
  subprocess.run(["shellcheck", os.path.join(REPO, script)], check=True)
