"""A 1,000,000-sample (500-token, 62.5 s) context: the paper's title, its model.

Same training setup as configs/paper_128k.py, with rematerialization on: the encoder
runs over recomputed time segments (a window holds a million positions of conv
activations per row) and the Transformer over recomputed blocks of 128 targets
(attention over 500 tokens holds targets x 8 x 500 x 500 probabilities).

  --config configs/million.py[:dataset=DATASET,objective=OBJECTIVE]
"""

import ml_collections

from audiolm_jax.training.config_builders import paper_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = paper_config("million", arg, "configs/million.py")
  c.model.remat_encoder = True
  c.model.remat_block = 128
  return c
