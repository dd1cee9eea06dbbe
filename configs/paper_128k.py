"""Table 1 of the paper: the 128,000-sample (64-token) model, batch 40, Adam 1e-4
then 5e-6 from step 250,000.

  --config configs/paper_128k.py[:dataset=DATASET,objective=OBJECTIVE]
  dataset: youtube_mix (default; --config.data.manual_dir=FOLDER on first build),
           music21_piano (built-in), audio_folder (--config.data.manual_dir=FOLDER)
  objective: dense (default; 1,024 targets per window) or sampled (the paper's
           literal one target per context, through the chunked path)
"""

import ml_collections

from audiolm_jax.training.config_builders import paper_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return paper_config("paper_128k", arg, "configs/paper_128k.py")
