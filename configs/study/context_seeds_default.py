"""The context claim at `make demo`'s budget, over seeds, on a 2-core CPU.

  python -m audiolm_jax.study --config configs/study/context_seeds_default.py \
      --workdir DIR

The default model (configs/default.py: 8 tokens of 500 samples, 1,900 steps of
4 x 512 targets on the multi-timbre set) against the same model with 1 token of
context, each trained at seeds 0, 1 and 2, scored on the held-out piano's test split
(the first 2 s of each file, as the other numbers docs/findings.md gives for the default). Seed 0 at 8
tokens is `make demo`'s run. The report gives each context's mean over seeds with an
interval over seeds, and 8 tokens minus 1 token by Welch's interval.

Measured on 2 cores: see results/context_seeds_default (written as it goes; resumes).
"""

import ml_collections

TOKENS = (1, 8)
CHUNK = 500


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = "context_seeds_default"
  c.budget_targets = 1_900 * 4 * 512      # the default's num_steps x batch x targets
  c.common = {"eval_every": 0, "checkpoint_every": 500}
  c.eval = ml_collections.ConfigDict(dict(
      split="test", protocols=("full",), max_seconds_per_file={"full": 2.0},
      num_targets=16_384, batch=1, truncated_positions=2000))
  c.seeds = (0, 1, 2)
  c.runs = [dict(name=f"default_{t}tok", config="configs/default.py",
                 group="context", x=t, overrides={"model.context": t * CHUNK})
            for t in TOKENS]
  return c
