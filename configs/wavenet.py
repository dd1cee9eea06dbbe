"""WaveNet, s4's YouTubeMix baseline of Table 1 (docs/design.md, "The baselines'
sources"): 4 blocks x 10 layers, kernel 2, 64 residual / 64 dilation / 1024 skip / 512
end channels, 4.24M parameters, receptive field 4,093; AdamW lr 1e-3 without weight
decay, reduce-on-plateau (factor 0.2, patience 5).

  --config configs/wavenet.py[:dataset=DATASET,size=SIZE]     (":cpu" = "size=cpu")
  dataset: youtube_mix (the default; --config.data.manual_dir=FOLDER on first
           build), music21_piano (built-in; the default with size=cpu),
           audio_folder (--config.data.folder_name=NAME, as built)
  size: full (the default), or cpu:
       the same structure and receptive field, narrower (16 residual and dilation,
       96 skip, 128 end channels, 64-dim embedding): 241,280 parameters, within 1 % of
       configs/default.py's model, with default.py:cpu's schedule and budget.

Training windows hold the receptive field plus `num_targets` targets, every one of
them scored in one pass (s4 trains on 131,072-sample chunks at batch 1; we sample
windows as for the other models, so the data and budget are the same for all).
"""

import ml_collections

from audiolm_jax.training.config_builders import cpu_budget, dataset_config, family_fields


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c, keys = dataset_config(arg, "configs/wavenet.py")
  c.model = family_fields("wavenet")
  c.optimizer.learning_rate = 1e-3          # s4: AdamW 1e-3, weight decay 0
  c.optimizer.decay_step = 10 ** 9          # no step decay: the plateau does it
  c.optimizer.decayed_learning_rate = 1e-3
  c.optimizer.plateau_factor = 0.2          # s4: ReduceLROnPlateau(0.2, patience 5)
  c.optimizer.plateau_patience = 5
  c.num_targets = 4096                      # targets per window of 4,093 + 4,096
  c.batch_size = 8
  c.data.recipe = "sashimi"  # s4's data: each 131,072-sample chunk min-max scaled
  if keys["size"] == "cpu":
    c.data.recipe = "mu_law"                # as configs/default.py: the same codes
    c.model = family_fields("wavenet", residual_channels=16, dilation_channels=16,
                            skip_channels=96, end_channels=128, embedding_dim=64)
    cpu_budget(c)  # configs/default.py:cpu's budget and schedule: equal work
    c.optimizer.grad_clip_norm = 1.0
    c.optimizer.plateau_factor = 0.0
  return c
