"""Train: `python -m audiolm_jax.train --config configs/X.py[:arg] --workdir DIR`.

Flags only; the run is `training.loop.train_and_evaluate`, which the notebook
imports. Override any config field with `--config.a.b=value`; the config is locked,
so a misspelt field is an error. Running again with the same workdir resumes.

`--topology NAME` (v5p-8, v5litepod-4, v4-8, v6e-256, or v5e:2x2 ...) trains
nothing: it compiles this exact step for that TPU slice with XLA's TPU compiler (on
this machine, no TPU or dataset needed; the `tpu` extra), prints whether it fits a
chip's HBM and what would fit if not, and writes DIR/compile_NAME.json. GPUs in one
host (a100-40gbx4, a100-80gbx4, h100x8) compile the same way with the `cuda` extra.

Exit status: 0 done (or fits), 1 a run or compile error, 2 a usage error (a bad
flag, config field, slice name, or a batch that does not split over the chips), 3
the step does not fit the slice (--topology), 130 stopped by Ctrl-C.
"""

from __future__ import annotations

import os
import sys

import jax
from absl import flags, logging
from ml_collections import config_flags

from audiolm_jax import cli, strict_json
from audiolm_jax.data.datasets import BuildError
from audiolm_jax.training import distributed, loop
from audiolm_jax.training.checkpointing import (CheckpointMismatchError,
                                                CheckpointWriteError)
from audiolm_jax.training.workdir_lock import WorkdirBusyError

EXIT_INTERRUPTED, EXIT_USAGE = cli.EXIT_INTERRUPTED, cli.EXIT_USAGE
EXIT_DOES_NOT_FIT = cli.EXIT_DOES_NOT_FIT

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
_TOPOLOGY = flags.DEFINE_string(
    "topology", None, "compile the step for this TPU slice (v5p-8, v5litepod-4, "
    "v4-8, v6e-4, v5e-256, or a topology such as v5e:2x2) and exit without "
    "training: memory per chip, fits or not, FLOPs, roofline time", flag_values=FLAGS)
_ROUND_BATCH = flags.DEFINE_bool(
    "round_batch", False, "--topology: round a batch that does not divide over the "
    "chips to chips x the nearest per-chip batch (else it is refused)",
    flag_values=FLAGS)
_SEARCH = flags.DEFINE_bool(
    "topology_search", True, "--topology: when the step does not fit, compile to find "
    "the least remat, the largest batch per chip and the smallest slice that fit",
    flag_values=FLAGS)
flags.mark_flags_as_required(["config", "workdir"], flag_values=FLAGS)


def _compile_for_topology() -> int:
  """--topology: the report, printed and written; 0 fits, 3 does not."""
  from audiolm_jax.aot import gpus, libtpu, report, slices  # pylint: disable=g-import-not-at-top
  try:
    slice_ = slices.resolve(_TOPOLOGY.value)
    (gpus if slice_.chip.platform == "cuda" else libtpu).require()
    result = report.plan(_CONFIG.value, slice_, config_name=FLAGS["config"].config_filename,
                         round_batch=_ROUND_BATCH.value,
                         search=_SEARCH.value, say=print)
  except (slices.UnknownSliceError, report.BatchSplitError) as e:
    print(f"error: {e}", file=sys.stderr)
    return EXIT_USAGE
  except (ValueError, libtpu.LibtpuMissingError, gpus.CudaPluginMissingError) as e:
    print(f"error: {e}", file=sys.stderr)
    return EXIT_USAGE
  path = os.path.join(_WORKDIR.value, f"compile_{slice_.name.replace(':', '_')}.json")
  os.makedirs(_WORKDIR.value, exist_ok=True)
  strict_json.write(path, result)
  for line in report.lines(result):
    print(line)
  print(f"report: {path}")
  return 0 if result["fits"] else EXIT_DOES_NOT_FIT


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.train", __doc__)) is not None:
    return code
  logging.set_verbosity(logging.WARNING)
  if _TOPOLOGY.value:
    return _compile_for_topology()
  try:
    distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                           heartbeat_timeout_s=_HEARTBEAT.value)
    result = loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except (ValueError, BuildError, CheckpointMismatchError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)  # the config, its data or its workdir
    return EXIT_USAGE
  except (CheckpointWriteError, WorkdirBusyError, loop.NonFiniteError) as e:
    print(f"error: {e}", file=sys.stderr)
    return cli.EXIT_FAILED
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
