"""The PyTorch reference (written from the paper) agrees with our Flax model."""

import jax
import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="torch missing: the PyTorch port check needs the bench extra")

from audiolm_jax.bench import torch_reference  # pylint: disable=wrong-import-position
from helpers import CONFIGS, chunked, make_model, random_codes


@pytest.mark.parametrize("name", sorted(n for n, c in CONFIGS.items()
                                         if not c.local_samples))
def test_torch_log_probs_equal_flax(name, np_rng):
  cfg = CONFIGS[name]
  model, params = make_model(cfg, seed=4)
  ported = torch_reference.from_flax(cfg, params)
  contexts = random_codes(np_rng, 3, cfg.context)
  ours = np.asarray(jax.nn.log_softmax(chunked(model, params, contexts)))
  with torch.no_grad():
    theirs = torch.log_softmax(ported(torch.from_numpy(np.array(contexts))), -1)
  np.testing.assert_allclose(theirs.numpy(), ours, atol=1e-4, rtol=1e-4)


def test_port_moves_every_parameter():
  cfg = CONFIGS["tiny"]
  _, params = make_model(cfg)
  ported = torch_reference.from_flax(cfg, params)
  flax_count = sum(np.size(x) for x in jax.tree.leaves(params))
  assert sum(p.numel() for p in ported.parameters()) == flax_count


def test_reference_refuses_the_local_path():
  with pytest.raises(ValueError, match="local_samples must be 0, got 20"):
    torch_reference.TorchAudioLM(CONFIGS["local"])
