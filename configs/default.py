"""Default: the paper's model shrunk to train on a 2-core CPU in minutes.

Same structure as the paper (5 strided convs with kernel 7 and strides 2,3,2,3,2,
flatten + linear to a token, a 3-layer Transformer, a Dense-ReLU-Dense head), with
widths divided by 2 to 4, 500-sample chunks instead of 2000, and a 4,000-sample
(0.25 s) context of 8 tokens instead of 64. Trained with the dense objective on the
multi-timbre built-in piano set (several pianos, rooms and levels; one piano held out
for validation and test); `make demo` trains it for 1,900 steps of 4 x 512 targets,
about 10 minutes on 2 CPU cores.

  --config configs/default.py[:dataset=DATASET,size=SIZE]   (":cpu" = "size=cpu")
  dataset: music21_piano (the default, built in), youtube_mix
           (--config.data.manual_dir=FOLDER on first build), audio_folder
           (--config.data.folder_name=NAME, as built by audiolm_jax.data.build)
  size: demo (the default: `make demo`), cpu, long or tiny

`size=cpu` trains the same model on the budget every family's `size=cpu` variant
shares (700 steps of 8 x 512 targets, `cpu_budget`), for comparisons at equal work;
the study runner and the baselines' comparison use it. `size=long` trains the demo's
model and steps 6.3x as long (12,000 x 4, about an hour on 2 cores); what each size
scores is in docs/findings.md. `size=tiny` trains a much smaller model in seconds,
for tests and smoke runs.
"""

import ml_collections

from audiolm_jax.training import config_args
from audiolm_jax.training.config import base_config, model_fields
from audiolm_jax.training.config_builders import cpu_budget

SIZES = ("demo", "cpu", "long", "tiny")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  keys = config_args.parse(arg, "configs/default.py", {
      "dataset": config_args.dataset_choices("music21_piano"), "size": SIZES})
  size = keys["size"]
  c = base_config()
  c.data.dataset = keys["dataset"]
  c.model = model_fields(
      "paper_128k", chunk_size=500, context=4_000,          # 8 tokens of 500 samples
      conv_features=(64, 64, 32, 32, 16), token_dim=64, num_heads=4, mlp_dim=128,
      head_hidden=256,
      # A few-minute run sees each training sample about once: the paper's dropouts
      # (0.2 / 0.1 / 0.2) only slow it down here. Long runs should keep them.
      encoder_dropout=0.0, token_dropout=0.0, head_dropout=0.0)
  cpu_budget(c)                       # 700 steps of 8 x 512 targets, lr 1e-3
  c.optimizer.grad_clip_norm = 1.0
  if size != "cpu":
    # The demo's budget: on a CPU the loss is limited by optimizer steps, not by
    # targets per step, so the demo takes more, smaller steps than cpu_budget; the
    # learning rate stays cpu_budget's (configs/study/lr_default.py compares it).
    c.batch_size = 4
    c.num_steps = 1_900
    c.optimizer.decay_step = 1_500
  # Several pianos, rooms and levels; TimGM6mb's piano (or, without the soundfonts,
  # the NumPy upright) held out for validation and test (data/piano/timbres.py).
  c.data.renderer = "mix"
  # Gain augmentation (data.gain_db) stays off: on this budget it costs more at the
  # stored level than it gains at lower ones (docs/findings.md, "Several pianos, rooms
  # and levels; gain augmentation").
  if size == "tiny":  # seconds on a CPU: tests and smoke runs
    c.data.variant = "tiny"
    c.data.renderer = "numpy"
    c.data.worker_count = 0
    c.model = model_fields("tiny")
    c.num_targets = 256
    c.batch_size = 8
    c.num_steps = 120
    c.optimizer.learning_rate = 3e-3
    c.optimizer.decay_step = 1_000
    c.optimizer.warmup_steps = 0
    c.log_every = 10
    c.eval_every = 60
    c.eval_windows = 4
    c.checkpoint_every = 10
  elif size == "long":  # the demo's steps, 6.3x as many (docs/findings.md)
    c.num_steps = 12_000
    c.optimizer.decay_step = 10_000
    c.eval_every = 2_000
    c.checkpoint_every = 1_000
  return c
