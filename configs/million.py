"""A 1,000,000-sample (500-token, 62.5 s) context: the paper's title, its model.

Same training setup as configs/paper_128k.py; encoder rematerialization on, since a
window holds a million samples of conv activations per row.

  --config configs/million.py[:DATASET[,OBJECTIVE]]
"""

import ml_collections

from audiolm_jax.config_lib import paper_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = paper_config("million", arg)
  c.model.remat_encoder = True
  return c
