"""Multi-process start-up: `jax.distributed` when a cluster launcher is detected.

JAX's own multi-controller runtime is the distributed engine (NCCL on GPUs, ICI on
TPUs, gloo on CPUs): every process runs the same program, owns its local devices,
feeds its own data shard, and XLA's collectives do the rest. This module only decides
whether and how to call `jax.distributed.initialize`:

* explicit: --coordinator_address/--num_processes/--process_id, or the environment
  variables AUDIOLM_COORDINATOR_ADDRESS / AUDIOLM_NUM_PROCESSES / AUDIOLM_PROCESS_ID
  (launch/local.sh, GKE, anything else);
* SLURM: a job step with more than one task (JAX reads SLURM's variables itself);
* Cloud TPU: a multi-host slice (TPU_WORKER_HOSTNAMES lists several hosts);
* otherwise: a single process, no initialization.
"""

from __future__ import annotations

import os

import jax

ENV_COORDINATOR = "AUDIOLM_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "AUDIOLM_NUM_PROCESSES"
ENV_PROCESS_ID = "AUDIOLM_PROCESS_ID"


def detect(coordinator_address: str | None = None) -> str | None:
  """Which launcher started us: "explicit", "slurm", "tpu", or None (single)."""
  if coordinator_address or os.environ.get(ENV_COORDINATOR):
    return "explicit"
  if os.environ.get("SLURM_JOB_ID") and int(os.environ.get("SLURM_NTASKS", "1")) > 1:
    return "slurm"
  if "," in os.environ.get("TPU_WORKER_HOSTNAMES", ""):
    return "tpu"
  return None


def initialize(coordinator_address: str | None = None,
               num_processes: int | None = None, process_id: int | None = None,
               heartbeat_timeout_s: int = 100) -> str | None:
  """Initializes jax.distributed if a launcher is detected; returns its kind.

  A process that dies is noticed by the others within about `heartbeat_timeout_s`,
  after which they exit with an error instead of hanging in a collective.
  """
  kind = detect(coordinator_address)
  if kind is None:
    return None
  if kind == "explicit":
    coordinator_address = coordinator_address or os.environ[ENV_COORDINATOR]
    if num_processes is None:
      num_processes = _required_int(ENV_NUM_PROCESSES)
    if process_id is None:
      process_id = _required_int(ENV_PROCESS_ID)
    jax.distributed.initialize(coordinator_address, num_processes, process_id,
                               heartbeat_timeout_seconds=heartbeat_timeout_s)
  else:
    jax.distributed.initialize(heartbeat_timeout_seconds=heartbeat_timeout_s)
  return kind


def _required_int(name: str) -> int:
  value = os.environ.get(name)
  if value is None or not value.strip().isdigit():
    raise ValueError(f"a coordinator address is set, so {name} must be set to an "
                     f"integer (got {value!r})")
  return int(value)
