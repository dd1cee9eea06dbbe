"""Train: `python -m audiolm_jax.train --config configs/X.py[:arg] --workdir DIR`.

Flags only; the loop is `train_lib.train_and_evaluate`, which the notebook imports.
Override any config field with `--config.a.b=value`; the config is locked, so a
misspelt field is an error. Running again with the same workdir resumes.
"""

from __future__ import annotations

import sys

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from audiolm_jax import distributed, train_lib
from audiolm_jax.checkpointing import CheckpointMismatchError
from audiolm_jax.data.datasets import BuildError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, e.g. configs/default.py or configs/default.py:tiny",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, metrics, profiles "
                               "and samples go; an existing one is resumed.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0 for multi-process runs "
    "(or $AUDIOLM_COORDINATOR_ADDRESS); SLURM and Cloud TPU are detected without it")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "with --coordinator_address")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "with --coordinator_address")
_HEARTBEAT = flags.DEFINE_integer(
    "heartbeat_timeout_s", 100, "seconds after which the other processes give up on "
    "one that died")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  try:
    distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                           heartbeat_timeout_s=_HEARTBEAT.value)
    result = train_lib.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except (ValueError, BuildError, CheckpointMismatchError, FileNotFoundError,
          train_lib.NonFiniteLossError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  if "validation" in result and jax.process_index() == 0:
    v = result["validation"]
    print(f"done: step {result['step']}, validation NLL {v['nll_bits']:.3f} ± "
          f"{v['nll_ci95']:.3f} bits/sample over {int(v['targets'])} targets; "
          f"previous-sample reference {v['previous_sample_bits']:.3f}, marginal "
          f"{v['marginal_bits']:.3f}")
  return 0


if __name__ == "__main__":
  app.run(main)
