"""Study: `python -m audiolm_jax.study --config configs/study/X.py --workdir DIR`.

Trains every run the study config lists under one budget (the same number of
training targets, the same data and recipe), scores each on the study's split under
its protocols with 95 % intervals and the reference predictors, measures the longest
context paper model at shorter contexts, and writes DIR/results.json, results.md
and the plots (context.png, families.png, cost.png).

Run it again to resume: finished runs are never retrained, finished scores never
recomputed, a half-trained run continues from its last checkpoint. To spread a study
over processes or machines sharing DIR (e.g. NFS), start one per shard with
`--shard K/N` (run i belongs to shard i mod N); each writes only its runs' folders.
Then `--report_only` (any machine, once all are done) writes the report;
`--report_only --allow_missing` reports the runs finished so far and names the others
(an interim report of a long study).
"""

from __future__ import annotations

import sys

from absl import flags

from audiolm_jax import cli
from audiolm_jax.data.datasets import BuildError
from audiolm_jax.study import plan, report, runner
from audiolm_jax.training.checkpointing import CheckpointMismatchError

FLAGS = flags.FlagValues()
_CONFIG = flags.DEFINE_string("config", None, "a study config (FILE[:ARG])",
                              flag_values=FLAGS, required=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "the study's folder (resumed if it "
                               "exists)", flag_values=FLAGS, required=True)
_SHARD = flags.DEFINE_string("shard", None, "K/N: only the runs i with i mod N = K",
                             flag_values=FLAGS)
_REPORT_ONLY = flags.DEFINE_bool("report_only", False, "train nothing; report the "
                                 "finished runs", flag_values=FLAGS)
_ALLOW_MISSING = flags.DEFINE_bool("allow_missing", False, "with --report_only: "
                                   "report the trained runs, name the untrained ones",
                                   flag_values=FLAGS)


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.study", __doc__)) is not None:
    return code
  command = f"python -m audiolm_jax.study --config {_CONFIG.value} --workdir DIR"
  try:
    results = runner.run_study(
        plan.load_config_file(_CONFIG.value), _WORKDIR.value, shard=_SHARD.value,
        report_only=_REPORT_ONLY.value, allow_missing=_ALLOW_MISSING.value,
        name=_CONFIG.value, command=command)
  except runner.ShardDone as e:
    print(e)
    return cli.EXIT_OK
  except runner.RunInterruptedError as e:
    print(f"stopped: {e}", file=sys.stderr)
    return cli.EXIT_INTERRUPTED
  except (ValueError, KeyError, FileNotFoundError, BuildError,
          CheckpointMismatchError) as e:
    print(f"error: {e}", file=sys.stderr)
    return cli.EXIT_USAGE
  print(report.markdown(results))
  print(f"written to {_WORKDIR.value}/results.json, results.md and the plots")
  return cli.EXIT_OK


if __name__ == "__main__":
  sys.exit(main())
