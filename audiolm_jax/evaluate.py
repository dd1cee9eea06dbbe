"""Evaluate: `python -m audiolm_jax.evaluate --workdir DIR [--split test]
[--protocol full|sashimi|sampled] [--audio FILE_OR_FOLDER] [--gains_db=-24,-12,0]`.

Scores a trained run's latest checkpoint on a split of its dataset (or of another
built dataset with --dataset_dir), or on any recordings given with --audio (no
dataset needed: each file is read, resampled to 16 kHz mono and turned into codes by
the run's recipe). Prints NLL in bits per sample with a 95 % interval and the
reference predictors (fitted on the whole training split of the run's dataset), and
writes the same numbers, with a per-file breakdown, to
WORKDIR/eval_{split|audio}_{protocol}.json.

--gains_db scores the same audio at fixed gains (each file scaled, clipped, then
quantized by the recipe): a level-robustness check. The references are fitted on the
training split at the same gain, so they know the level the model must discover.
Results go to eval_{split}_{protocol}_gain{G}dB.json, one per gain.
"""

from __future__ import annotations

import sys

from absl import flags

from audiolm_jax import cli
from audiolm_jax.data import tfds_builders
from audiolm_jax.evaluation import protocols
from audiolm_jax.evaluation.runs import EvalConfig, evaluate_run, format_table


FLAGS = flags.FlagValues()
_STEP = flags.DEFINE_integer("step", None, "checkpoint step to score (default: the "
                             "latest)", flag_values=FLAGS)
_WORKDIR = flags.DEFINE_string("workdir", None, "a training run's workdir",
                               flag_values=FLAGS, required=True)
_SPLIT = flags.DEFINE_string("split", "test", "the split to score", flag_values=FLAGS)
_PROTOCOL = flags.DEFINE_enum("protocol", "full", protocols.PROTOCOLS,
                              "the NLL protocol (docs/evaluation.md)", flag_values=FLAGS)
_AUDIO = flags.DEFINE_string("audio", None, "score these recordings (a file or a "
                             "folder of them) instead of a dataset split",
                             flag_values=FLAGS)
_DATASET_DIR = flags.DEFINE_string("dataset_dir", None,
                                   "another built dataset (default: the run's)",
                                   flag_values=FLAGS)
_NUM_TARGETS = flags.DEFINE_integer("num_targets", 4096, "targets per dense window "
                                    "(memory vs speed)", flag_values=FLAGS)
_BATCH = flags.DEFINE_integer("batch", 4, "windows per device call", flag_values=FLAGS)
_NUM_POSITIONS = flags.DEFINE_integer("num_positions", 10_000, "sampled: N",
                                      flag_values=FLAGS)
_MAX_SECONDS = flags.DEFINE_float("max_seconds_per_file", None, "score only the first "
                                  "S seconds of each file (quick checks)",
                                  flag_values=FLAGS)
_SEED = flags.DEFINE_integer("seed", 0, "sampled: positions' seed", flag_values=FLAGS)
_GAINS = flags.DEFINE_list("gains_db", ["0"], "score at each of these gains in dB "
                           "(e.g. -24,-12,0: level robustness)", flag_values=FLAGS)


def parse_gains(values: list[str]) -> list[float]:
  """--gains_db values as floats; ValueError naming the bad one."""
  gains = []
  for v in values:
    try:
      g = float(v)
    except ValueError:
      raise ValueError(f"--gains_db: {v!r} is not a number of decibels") from None
    if not -90 <= g <= 40:
      raise ValueError(f"--gains_db: {g:g} dB is outside [-90, 40]")
    gains.append(g)
  if not gains:
    raise ValueError("--gains_db: give at least one gain")
  return gains


def format_gains(results: list[dict]) -> str:
  """One line per gain: the model and every reference, in bits per sample."""
  refs = list(results[0]["references"])
  lines = [f"{'gain dB':>8} {'model':>8} {'± 95%':>7}"
           + "".join(f" {k.replace('_', ' '):>16}" for k in refs)]
  for r in results:
    lines.append(f"{r.get('gain_db', 0.0):>+8g} {r['nll_bits']:>8.4f} "
                 f"{r['ci95_bits']:>7.4f}"
                 + "".join(f" {r['references'][k]:>16.4f}" for k in refs))
  return "\n".join(lines)


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.evaluate", __doc__)) is not None:
    return code
  results = []
  try:
    for gain in parse_gains(_GAINS.value):
      result = evaluate_run(_WORKDIR.value, EvalConfig(
          split=_SPLIT.value, protocol=_PROTOCOL.value,
          dataset_dir=_DATASET_DIR.value, audio=_AUDIO.value,
          num_targets=_NUM_TARGETS.value, batch=_BATCH.value,
          num_positions=_NUM_POSITIONS.value, max_seconds_per_file=_MAX_SECONDS.value,
          seed=_SEED.value, gain_db=gain, step=_STEP.value))
      print(format_table(result))
      print(f"written to {result['path']}")
      results.append(result)
  except (FileNotFoundError, ValueError, tfds_builders.BuildError) as e:
    print(f"error: {e}", file=sys.stderr)
    return cli.EXIT_USAGE
  if len(results) > 1 and results[0]["references"]:
    print(format_gains(results))
  return 0


if __name__ == "__main__":
  sys.exit(main())
