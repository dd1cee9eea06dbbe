"""SaShiMi, the strongest baseline of Table 1 (docs/design.md, "The baselines'
sources"): S4 blocks (here S4D-LegS, state 64) over three resolutions (pools 4 and 4,
channels 64 / 128 / 256), 8 layers per stage as SaShiMi's paper
(`--config.model.n_layers=6` for Table 1's row), expand 2, feed-forward 2, pre-norm,
no dropout; AdamW lr 4e-3 without weight decay and a plateau schedule (patience 20),
batch 1. Each window is scored and trained at every position with its context reset at
the window's start, as s4 trains SaShiMi on 131,072-sample chunks.

  --config configs/sashimi.py[:dataset=DATASET,size=SIZE]     (":cpu" = "size=cpu")
  dataset: youtube_mix (the default; --config.data.manual_dir=FOLDER on first
           build), music21_piano (built-in; the default with size=cpu),
           audio_folder (--config.data.folder_name=NAME, as built)
  size: full (the default), or cpu:
       channels 23 / 46 / 92, 3 layers per stage, state 32: 242,309 parameters,
       within 1 % of configs/default.py's model; windows of 4,096 codes at batch 1
       (default.py:cpu's 4,096 targets per step) for its 700 steps and schedule.
"""

import ml_collections

from audiolm_jax.training.config_builders import cpu_budget, dataset_config, family_fields


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c, keys = dataset_config(arg, "configs/sashimi.py")
  c.model = family_fields("sashimi")
  c.num_targets = 131_072                   # s4's chunk: every position a target
  c.batch_size = 1                          # s4's
  c.optimizer.learning_rate = 4e-3          # s4: AdamW 4e-3, weight decay 0
  c.optimizer.decay_step = 10 ** 9
  c.optimizer.decayed_learning_rate = 4e-3
  c.optimizer.plateau_factor = 0.2          # s4: ReduceLROnPlateau, patience 20
  c.optimizer.plateau_patience = 20
  c.data.recipe = "sashimi"  # s4's data: each 131,072-sample chunk min-max scaled
  if keys["size"] == "cpu":
    c.data.recipe = "mu_law"                # as configs/default.py: the same codes
    c.model = family_fields("sashimi", d_model=23, n_layers=3, state_size=32,
                            eval_context=4_000)
    cpu_budget(c)  # configs/default.py:cpu's budget and schedule: equal work
    c.num_targets, c.batch_size = 4_096, 1  # the same 4,096 targets per step
    c.optimizer.learning_rate = 4e-3        # s4's; at 1e-3 it stays at the marginal
    c.optimizer.decayed_learning_rate = 4e-4
    c.optimizer.grad_clip_norm = 1.0
    c.optimizer.plateau_factor = 0.0
  return c
