"""SampleRNN, s4's YouTubeMix baseline of Table 1 (docs/design.md, "The baselines'
sources"): 3 tiers with frame sizes 8, 2, 2 (frames of 8, 16, 32 samples), one GRU of
1024 per tier, a 256-dim embedding in the sample-level MLP, weight norm, learned
initial states: 35,034,624 parameters (Table 1: 35.03M). Truncated backprop through
time over consecutive 1,024-sample segments of each file (s4: 1,024 with 32 of
overlap, which is our 32-sample lookback), AdamW lr 1e-3, gradients clipped by value
at 1.0.

  --config configs/samplernn.py[:dataset=DATASET,size=SIZE]     (":cpu" = "size=cpu")
  dataset: youtube_mix (the default; --config.data.manual_dir=FOLDER on first
           build), music21_piano (built-in; the default with size=cpu),
           audio_folder (--config.data.folder_name=NAME, as built)
  size: full (the default), or cpu:
       the same three tiers, hidden 76 and a 32-dim embedding: 234,348 parameters,
       within 3 % of configs/default.py's model, with default.py:cpu's schedule and
       number of training targets.

s4 trains SampleRNN at batch 128; the paper-size config keeps that batch.
"""

import ml_collections

from audiolm_jax.training.config_builders import cpu_budget, dataset_config, family_fields


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c, keys = dataset_config(arg, "configs/samplernn.py")
  c.model = family_fields("samplernn")
  c.objective = "dense"                     # every position of each segment
  c.num_targets = 1024                      # the TBPTT segment
  c.batch_size = 128                        # s4's
  c.optimizer.learning_rate = 1e-3          # s4: AdamW 1e-3
  c.optimizer.decay_step = 10 ** 9
  c.optimizer.decayed_learning_rate = 1e-3
  c.optimizer.grad_clip_value = 1.0         # s4: clipped by value at 1.0
  c.data.recipe = "sashimi"  # s4's data: each 131,072-sample chunk min-max scaled
  if keys["size"] == "cpu":
    c.data.recipe = "mu_law"                # as configs/default.py: the same codes
    c.model = family_fields("samplernn", hidden=76, embedding_dim=32,
                            eval_context=4_000)
    cpu_budget(c)  # configs/default.py:cpu's budget and schedule: equal work
  return c
