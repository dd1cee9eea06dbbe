"""Table 1's 500,000-sample (250-token) model: the paper's second row.

Same training setup and arguments as configs/paper_128k.py:
  --config configs/paper_500k.py[:dataset=DATASET,objective=OBJECTIVE]
"""

import ml_collections

from audiolm_jax.training.config_builders import paper_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return paper_config("paper_500k", arg, "configs/paper_500k.py")
