"""SampleRNN: s4's size, the consecutive-segment pipeline, the full protocol and
resume. (Causality, TBPTT segments == one pass and generation: the family contract.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiolm_jax import models
from audiolm_jax.data import pipeline
from audiolm_jax.models.interface import count_params
from audiolm_jax.evaluation import protocols
from helpers import init_trained_like, random_codes

SMALL = dict(hidden=24, embedding_dim=8)


@pytest.fixture(scope="module")
def small():
  model = models.build("samplernn", **SMALL)
  return model, init_trained_like(model, 0)


def test_s4_size():
  model = models.build("samplernn")
  assert count_params(jax.eval_shape(model.init, jax.random.key(0))) == 35_034_624
  assert model.left_context is None and model.config.tier_samples == (8, 16, 32)


def test_stream_sampler_walks_files_in_order(tmp_path):
  # A fake flattened split: three files of 100, 250 and 40 codes.
  lengths = [100, 250, 40]
  flat = _fake_flat(tmp_path, lengths)
  s = pipeline.StreamSampler(flat, context=8, num_targets=50, seed=0, rows=2)
  for row in range(2):
    seen = [s(step * 2 + row) for step in range(12)]
    contiguous = 0
    for prev, cur in zip(seen, seen[1:]):
      if not cur["reset"]:  # the same file: the segment right after the previous
        np.testing.assert_array_equal(cur["codes"][:8], prev["codes"][-8:])
        contiguous += 1
    assert seen[0]["reset"]
    # Both kinds of step happen in 12: continuing a file and starting the next.
    assert contiguous >= 3 and sum(x["reset"] for x in seen) >= 2, contiguous
  # A pure function of the index: a fresh sampler agrees, whatever was asked first.
  t = pipeline.StreamSampler(flat, context=8, num_targets=50, seed=0, rows=2)
  np.testing.assert_array_equal(t(23)["codes"], s(23)["codes"])
  with pytest.raises(ValueError, match="one segment"):
    pipeline.StreamSampler(flat, context=8, num_targets=300, seed=0, rows=2)


def _fake_flat(tmp_path, lengths):
  """A FlatSplit over codes written directly (file i holds the value 10 i + position
  mod 7, so windows tell where they came from)."""
  import json  # pylint: disable=g-import-not-at-top
  folder = tmp_path / "flat" / "mu_law"
  folder.mkdir(parents=True)
  codes = np.concatenate([(10 * i + np.arange(n) % 7).astype(np.uint8)
                          for i, n in enumerate(lengths)])
  codes.tofile(folder / "train.u8")
  (folder / "train.json").write_text(json.dumps(
      {"names": [f"f{i}" for i in range(len(lengths))], "lengths": lengths}))
  return pipeline.FlatSplit(str(tmp_path), "train")


def test_full_protocol_gives_a_stateful_model_the_whole_past(small, np_rng):
  model, params = small
  files = [np.asarray(random_codes(np_rng, 1, n)[0], np.uint8) for n in (300, 77)]
  scorer = protocols.Scorer(model, params, num_targets=64)
  got = scorer.score_files(files)
  for codes, nll in zip(files, got):
    logits = model.logits(params, jnp.asarray(codes[None], jnp.int32),
                          num_targets=len(codes))
    expect = -jax.nn.log_softmax(logits[0])[np.arange(len(codes)), codes] / np.log(2)
    np.testing.assert_allclose(nll, expect, rtol=1e-4, atol=1e-4)


def test_resume_carries_the_state_exactly(tmp_path, tiny_data_dir):
  """Checkpoint at step 3, resume to 6 == 6 straight: parameters and carried GRU
  states bitwise (the carry is part of the checkpointed train state)."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  from audiolm_jax.training import loop  # pylint: disable=g-import-not-at-top
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  spec = importlib.util.spec_from_file_location(
      "samplernn_config", os.path.join(repo, "configs", "samplernn.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)

  def config(steps):
    c = module.get_config("cpu")
    c.data.update(variant="tiny", renderer="numpy", data_dir=tiny_data_dir,
                  worker_count=0)
    c.model.hidden, c.model.eval_context = 16, 256
    c.update(num_targets=64, batch_size=2, num_steps=steps, eval_every=0,
             checkpoint_every=3, log_every=1, eval_windows=2)
    c.optimizer.warmup_steps = 0
    return c

  loop.train_and_evaluate(config(6), str(tmp_path / "straight"))
  loop.train_and_evaluate(config(3), str(tmp_path / "resumed"))
  loop.train_and_evaluate(config(6), str(tmp_path / "resumed"))
  for name in ("straight", "resumed"):
    assert os.path.isdir(tmp_path / name / "checkpoints" / "6")
  a = _state(tmp_path / "straight")
  b = _state(tmp_path / "resumed")
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  assert np.abs(np.asarray(a["carry"])).max() > 0  # the carry really moved


def _state(workdir):
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  path = str(workdir / "checkpoints" / "6" / "state")
  checkpointer = ocp.StandardCheckpointer()
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype,
                                                       sharding=device),
                        checkpointer.metadata(path).item_metadata.tree)
  restored = checkpointer.restore(path, target)
  return {"params": restored["params"], "carry": restored["carry"]}
