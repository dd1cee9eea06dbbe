"""The committed configs keep the contracts the README states."""

import pytest

from audiolm_jax.training import config as train_config

FAMILIES = ("configs/default.py:cpu", "configs/wavenet.py:cpu",
            "configs/samplernn.py:cpu", "configs/sashimi.py:cpu")


def _targets(c):
  return c.num_steps * c.batch_size * train_config.window_targets(c)


def test_cpu_variants_train_every_family_on_one_budget():
  configs = [train_config.load_config_file(spec) for spec in FAMILIES]
  assert {_targets(c) for c in configs} == {700 * 4_096}
  assert {(c.num_steps, c.optimizer.decay_step) for c in configs} == {(700, 550)}


def test_the_demo_config_is_the_cpu_model_on_more_smaller_steps():
  demo = train_config.load_config_file("configs/default.py")
  cpu = train_config.load_config_file("configs/default.py:cpu")
  assert demo.model.to_dict() == cpu.model.to_dict()
  assert demo.data.to_dict() == cpu.data.to_dict()
  assert (demo.batch_size, demo.num_steps, demo.optimizer.decay_step) == (4, 1_900, 1_500)
  assert demo.batch_size < cpu.batch_size and demo.num_steps > cpu.num_steps
  for c in (demo, cpu):
    train_config.checked_model(c, device_count=1)
  with pytest.raises(ValueError, match="unknown variant 'gpu'.*'cpu', 'long' or 'tiny'"):
    train_config.load_config_file("configs/default.py:gpu")


def test_the_long_config_is_the_demo_run_longer():
  """`:long` is what README, Results measured: the demo's model, data and steps,
  12,000 of them with the learning-rate drop at 10,000."""
  demo = train_config.load_config_file("configs/default.py")
  long = train_config.load_config_file("configs/default.py:long")
  train_config.checked_model(long, device_count=1)
  assert long.model.to_dict() == demo.model.to_dict()
  assert long.data.to_dict() == demo.data.to_dict()
  assert long.optimizer.learning_rate == demo.optimizer.learning_rate
  assert (long.batch_size, long.num_steps, long.optimizer.decay_step) == (4, 12_000,
                                                                         10_000)
