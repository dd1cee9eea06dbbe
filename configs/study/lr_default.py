"""The default's learning rate at `make demo`'s budget, paired by seed, on 2 cores.

  python -m audiolm_jax.study --config configs/study/lr_default.py --workdir DIR

configs/default.py as it is (1e-3, dropped to 1e-4 at step 1,500) against the same
config at 2e-3 (dropped to 2e-4), each trained at seeds 0-4 and scored on the held-out
piano's test split (the first 2 s of each file, as docs/findings.md's other default
numbers). `baseline` makes the report give 2e-3 minus 1e-3 paired by seed: the two
runs at one seed share initialisation and data order. Seed 0 of `lr1e-3` is
`make demo`'s run.

The learning-rate table of docs/findings.md was measured with these ten trainings run
one by one through train.py and evaluate (the same configs; this study only skips
the periodic validation, which changes no parameter); its results and time are there.
"""

import ml_collections

from audiolm_jax.study.plan import same_protocol_as


def get_config() -> ml_collections.ConfigDict:
  # The budget, cadence and scoring of the default's context seed study.
  c = same_protocol_as("configs/study/context_seeds_default.py", "lr_default")
  c.seeds = (0, 1, 2, 3, 4)
  c.baseline = "lr1e-3"
  c.runs = [
      dict(name="lr1e-3", config="configs/default.py", group="family"),
      dict(name="lr2e-3", config="configs/default.py", group="family",
           overrides={"optimizer.learning_rate": 2e-3,
                      "optimizer.decayed_learning_rate": 2e-4}),
  ]
  return c
