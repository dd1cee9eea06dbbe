"""The pure train and eval steps: a golden loss, label alignment, both objectives
learn, and the training validator agrees with the evaluation scorer."""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from audiolm_jax.data import pipeline
from audiolm_jax.evaluation import protocols
from audiolm_jax.evaluation.references import References
from audiolm_jax.models.cnn_transformer import CNNTransformer
from audiolm_jax.models.cnn_transformer_config import get_model_config
from audiolm_jax.models.interface import AudioModel
from audiolm_jax.training import steps
from audiolm_jax.training.sharding import data_mesh
from audiolm_jax.training.validation import Validator
from jax.sharding import NamedSharding, PartitionSpec as P

from helpers import init_trained_like


def _state(model, optimizer, seed=0):
  params = model.init(jax.random.key(seed))
  return steps.TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params))


def _step(model, objective, num_targets, lr=1e-3):
  optimizer, schedule = steps.make_optimizer(lr, 10_000, lr)
  return optimizer, jax.jit(steps.make_train_step(
      model, optimizer, schedule, objective=objective, num_targets=num_targets))


def test_golden_one_step_loss():
  """The tiny preset, seed 0, fixed codes: the first two losses, to 6 digits. A change
  to the model, its initialization, the loss or the optimizer shows up here."""
  model = CNNTransformer(get_model_config("tiny"))
  codes = np.random.default_rng(1234).integers(0, 256, (2, 128 + 16), np.int32)
  optimizer, step = _step(model, "dense", 16)
  state = _state(model, optimizer)
  state, first = step(state, {"codes": jnp.asarray(codes)}, jax.random.key(0))
  _, second = step(state, {"codes": jnp.asarray(codes)}, jax.random.key(0))
  assert float(first["loss_bits"]) == pytest.approx(GOLDEN[0], rel=1e-5)
  assert float(second["loss_bits"]) == pytest.approx(GOLDEN[1], rel=1e-5)


GOLDEN = (8.349995, 8.248116)


@dataclasses.dataclass(frozen=True)
class _PreviousSampleOracle(AudioModel):
  """Puts a logit of 30 on f(the code `lag` before the target)."""

  config: None = None
  lag: int = 1
  name = "oracle"

  @property
  def quantization(self):
    return "mu_law"

  @property
  def left_context(self):
    return 8

  def init(self, rng):
    return {"scale": jnp.ones(())}

  def logits(self, params, codes_BxT, *, num_targets, train=False, rng=None):
    t = codes_BxT.shape[1]
    prev = codes_BxT[:, t - num_targets - self.lag:t - self.lag].astype(jnp.int32)
    return 30.0 * params["scale"] * jax.nn.one_hot((prev * 5 + 3) % 256, 256)

  def target_logits(self, params, codes_BxT, *, train=False, rng=None):
    return 30.0 * params["scale"] * jax.nn.one_hot(
        (codes_BxT[:, -self.lag].astype(jnp.int32) * 5 + 3) % 256, 256)

  def prime(self, params, prompt_BxP):
    raise NotImplementedError

  def next_logits(self, params, state):
    raise NotImplementedError

  def push(self, params, state, codes_B):
    raise NotImplementedError


@pytest.mark.parametrize("objective,num_targets", [("dense", 20), ("sampled", 1)])
def test_labels_are_the_next_codes(objective, num_targets):
  """On a signal whose next code is f(previous), an oracle for f scores ~0 bits and
  one that reads the code two back does not: the step pairs each prediction with the
  code right after its context."""
  x = np.zeros((3, 8 + num_targets), np.int64)
  x[:, 0] = [7, 100, 201]
  for t in range(1, x.shape[1]):
    x[:, t] = (x[:, t - 1] * 5 + 3) % 256
  model = _PreviousSampleOracle()
  _, step = _step(model, objective, num_targets)
  optimizer, _ = _step(model, objective, num_targets)
  _, metrics = step(_state(model, optimizer), {"codes": jnp.asarray(x, jnp.uint8)},
                    jax.random.key(0))
  assert float(metrics["loss_bits"]) < 1e-6
  late = _PreviousSampleOracle(lag=2)
  _, step = _step(late, objective, num_targets)
  _, metrics = step(_state(late, optimizer), {"codes": jnp.asarray(x, jnp.uint8)},
                    jax.random.key(0))
  assert float(metrics["loss_bits"]) > 30


def test_the_sampled_objective_learns():
  """The paper's one-target objective (chunked path) fits a repeated batch."""
  model = CNNTransformer(get_model_config("tiny"))
  rng = np.random.default_rng(0)
  walk = np.clip(128 + np.cumsum(rng.normal(0, 3, (16, 129)), axis=1), 0, 255)
  codes = {"codes": jnp.asarray(walk, jnp.uint8)}
  optimizer, step = _step(model, "sampled", 1, lr=3e-3)
  state = _state(model, optimizer)
  losses = []
  for i in range(40):
    state, metrics = step(state, codes, jax.random.key(i))
    losses.append(float(metrics["loss_bits"]))
  assert np.mean(losses[:3]) > 7.0 and np.mean(losses[-5:]) < 0.6 * np.mean(losses[:3])


def test_validator_and_scorer_agree_on_the_same_windows(tiny_data_dir):
  from audiolm_jax.data import datasets  # pylint: disable=g-import-not-at-top
  path = datasets.dataset_dir(datasets.DatasetSpec(
      "music21_piano", variant="tiny", renderer="numpy"), tiny_data_dir)
  model = CNNTransformer(get_model_config("tiny"))
  params = init_trained_like(model, 3)
  config = ml_collections.ConfigDict({"num_targets": 64, "batch_size": 2,
                                      "seed": 5, "eval_windows": 4})
  mesh = data_mesh()
  refs = References.fit(pipeline.FlatSplit(path, "train"))
  validator = Validator(config, path, model, mesh, NamedSharding(mesh, P("data")),
                        refs)
  got = validator.run(params)
  # The scorer sees each window as a file: its last 64 codes have their full
  # context inside it, so their NLLs are the validator's targets.
  windows = np.concatenate(validator.local)
  scorer = protocols.Scorer(model, params, num_targets=32, batch=2)
  nll = np.stack([row[-64:] for row in scorer.score_files(list(windows))])
  assert got["samples"] == nll.size == 4 * 64 and got["units"] == 4
  assert got["nll_bits"] == pytest.approx(float(nll.mean()), rel=1e-5)
  ref = refs.nll_bits(windows[:, -64:], windows[:, -65:-1])
  assert got["references"]["previous_sample"] == pytest.approx(float(
      ref["previous_sample"].mean()), rel=1e-9)
  # Linear prediction reads each window's own past: what it scores on the window
  # as a file, blocks counted from its first target.
  lp = np.stack([refs.linear.bits(w, len(w) - 64) for w in windows])
  assert got["references"]["linear_prediction"] == pytest.approx(float(lp.mean()),
                                                                 rel=1e-9)
  # The interval is the one every score uses, over the windows' means.
  per_window = nll.mean(axis=1)
  assert got["ci95_bits"] == pytest.approx(
      1.96 * per_window.std(ddof=1) / np.sqrt(4), rel=1e-4)
