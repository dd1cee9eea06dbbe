"""Train: `python -m audiolm_jax.train --config configs/X.py[:arg] --workdir DIR`.

Flags only; the run is `training.loop.train_and_evaluate`, which the notebook
imports. Override any config field with `--config.a.b=value`; the config is locked,
so a misspelt field is an error. Running again with the same workdir resumes.
"""

from __future__ import annotations

import sys

import jax
from absl import flags, logging
from ml_collections import config_flags

from audiolm_jax import cli
from audiolm_jax.data.datasets import BuildError
from audiolm_jax.training import distributed, loop
from audiolm_jax.training.checkpointing import (CheckpointMismatchError,
                                                CheckpointWriteError)
from audiolm_jax.training.workdir_lock import WorkdirBusyError

# The exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

FLAGS = flags.FlagValues()
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, e.g. configs/default.py or configs/default.py:tiny",
    flag_values=FLAGS, lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, metrics, profiles "
                               "and samples go; an existing one is resumed.",
                               flag_values=FLAGS)
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0 for multi-process runs "
    "(or $AUDIOLM_COORDINATOR_ADDRESS); SLURM and Cloud TPU are detected without it",
    flag_values=FLAGS)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None,
                                      "with --coordinator_address", flag_values=FLAGS)
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "with --coordinator_address",
                                   flag_values=FLAGS)
_HEARTBEAT = flags.DEFINE_integer(
    "heartbeat_timeout_s", 100, "seconds after which the other processes give up on "
    "one that died", flag_values=FLAGS)
flags.mark_flags_as_required(["config", "workdir"], flag_values=FLAGS)


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.train", __doc__)) is not None:
    return code
  logging.set_verbosity(logging.WARNING)
  try:
    distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                           heartbeat_timeout_s=_HEARTBEAT.value)
    result = loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except (ValueError, BuildError, CheckpointMismatchError, FileNotFoundError,
          CheckpointWriteError, WorkdirBusyError, loop.NonFiniteError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    print("Ctrl-C again (or before the first step): aborted without saving; the "
          "last saved step is kept", file=sys.stderr)
    return EXIT_INTERRUPTED
  if result.get("interrupted"):
    return EXIT_INTERRUPTED
  if "validation" in result and jax.process_index() == 0:
    print(f"done: step {result['step']}, "
          f"{loop.describe_validation(result['validation'])}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
