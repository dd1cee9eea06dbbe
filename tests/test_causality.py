"""A target's logits depend only on the `context` samples before it."""

import jax.numpy as jnp
import numpy as np
import pytest

from helpers import CONFIGS, dense, make_model, random_codes


@pytest.mark.parametrize("name", ["tiny", "odd", "local"])
def test_changing_one_sample_affects_only_the_targets_that_read_it(name, np_rng):
  cfg = CONFIGS[name]
  model, params = make_model(cfg, seed=3)
  length = 3 * cfg.context
  codes = random_codes(np_rng, 1, length)
  base = dense(model, params, codes, num_targets=length)[0]
  for p in (0, cfg.chunk_size + 1, cfg.context, length // 2, length - 2):
    changed = codes.at[0, p].set((codes[0, p] + 97) % 256)
    diff = jnp.max(jnp.abs(dense(model, params, changed, num_targets=length)[0]
                           - base), axis=-1)
    moved = np.flatnonzero(np.asarray(diff) > 0)
    # At or before the changed sample, and more than `context` after it: untouched.
    assert moved.min() > p and moved.max() <= p + cfg.context, (p, moved)
    # The sample right before a target is always read (docs/design.md, "The
    # receptive field").
    assert diff[p + 1] > 1e-4, p
