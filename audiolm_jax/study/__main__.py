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
from audiolm_jax.study import references as study_references
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
  try:
    study = plan.load_config_file(_CONFIG.value)
    runs = plan.plan(study)
    mine = plan.shard(runs, _SHARD.value)
    if not _REPORT_ONLY.value:
      for run in mine:
        runner.train(_WORKDIR.value, run)
        runner.score(_WORKDIR.value, run, study.eval)
      if _SHARD.value:
        print(f"shard {_SHARD.value} done ({len(mine)} runs); run --report_only "
              f"once every shard is")
        return 0
    trained = [runner.train(_WORKDIR.value, r, log=lambda *_: None)
               if runner.is_trained(_WORKDIR.value, r) else None for r in runs]
    missing = [r.name for r, t in zip(runs, trained) if t is None]
    if missing and not (_REPORT_ONLY.value and _ALLOW_MISSING.value):
      raise ValueError(f"runs not trained yet: {', '.join(missing)}; run the study "
                       f"(or its shards) first, or pass --report_only --allow_missing "
                       f"for an interim report")
    runs, trained = ([r for r, t in zip(runs, trained) if t is not None],
                     [t for t in trained if t is not None])
    if not runs:
      raise ValueError("no run of this study is trained yet")
    scores = [runner.score(_WORKDIR.value, r, study.eval) for r in runs]
    longest = max((r for r in runs if r.group == "context"), key=lambda r: r.x,
                  default=None)
    truncated = (runner.truncated(_WORKDIR.value, longest, study.eval)
                 if longest is not None else None)
    command = (f"python -m audiolm_jax.study --config {_CONFIG.value} "
               f"--workdir DIR")
    results = report.collect(study.get("name", _CONFIG.value), command, trained,
                             scores, truncated, missing=missing,
                             baseline=study.get("baseline"))
    # Scores cached before a reference predictor existed gain it from the data.
    results, _ = study_references.add_references(results, study)
    report.write(results, _WORKDIR.value)
  except runner.RunInterruptedError as e:
    print(f"stopped: {e}", file=sys.stderr)
    return 3
  except (ValueError, KeyError, FileNotFoundError, BuildError,
          CheckpointMismatchError) as e:
    print(f"error: {e}", file=sys.stderr)
    return cli.EXIT_USAGE
  print(report.markdown(results))
  print(f"written to {_WORKDIR.value}/results.json, results.md and the plots")
  return 0


if __name__ == "__main__":
  sys.exit(main())
