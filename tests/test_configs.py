"""The committed configs keep the contracts the docs state, in one grammar."""

import pytest

from audiolm_jax.training import config as train_config
from audiolm_jax.training import config_loader

FAMILIES = ("configs/default.py:cpu", "configs/wavenet.py:cpu",
            "configs/samplernn.py:cpu", "configs/sashimi.py:cpu")


def _targets(c):
  return c.num_steps * c.batch_size * train_config.window_targets(c)


def test_cpu_variants_train_every_family_on_one_budget():
  configs = [config_loader.load_config_file(spec) for spec in FAMILIES]
  assert {_targets(c) for c in configs} == {700 * 4_096}
  assert {(c.num_steps, c.optimizer.decay_step) for c in configs} == {(700, 550)}


def test_the_demo_config_is_the_cpu_model_on_more_smaller_steps():
  demo = config_loader.load_config_file("configs/default.py")
  cpu = config_loader.load_config_file("configs/default.py:cpu")
  assert demo.model.to_dict() == cpu.model.to_dict()
  assert demo.data.to_dict() == cpu.data.to_dict()
  assert (demo.batch_size, demo.num_steps, demo.optimizer.decay_step) == (4, 1_900, 1_500)
  assert demo.batch_size < cpu.batch_size and demo.num_steps > cpu.num_steps
  for c in (demo, cpu):
    train_config.checked_model(c, device_count=1)


def test_the_long_config_is_the_demo_run_longer():
  """`:long` is what docs/findings.md measured: the demo's model, data and steps,
  12,000 of them with the learning-rate drop at 10,000."""
  demo = config_loader.load_config_file("configs/default.py")
  long = config_loader.load_config_file("configs/default.py:long")
  train_config.checked_model(long, device_count=1)
  assert long.model.to_dict() == demo.model.to_dict()
  assert long.data.to_dict() == demo.data.to_dict()
  assert long.optimizer.learning_rate == demo.optimizer.learning_rate
  assert (long.batch_size, long.num_steps, long.optimizer.decay_step) == (4, 12_000,
                                                                         10_000)


TRAIN_CONFIGS = ("default", "paper_128k", "paper_500k", "million", "wavenet",
                 "samplernn", "sashimi")


@pytest.mark.parametrize("name", TRAIN_CONFIGS)
def test_every_config_takes_the_dataset_the_same_way(name):
  """One grammar: `dataset=` works on every config, a bare value is its key's
  shorthand, and an unknown key or value is an error naming what the file takes."""
  path = f"configs/{name}.py"
  for dataset in ("music21_piano", "youtube_mix", "audio_folder"):
    c = config_loader.load_config_file(f"{path}:dataset={dataset}")
    assert c.data.dataset == dataset
    assert (config_loader.load_config_file(f"{path}:{dataset}").to_dict()
            == c.to_dict())
  with pytest.raises(ValueError, match=rf"{path}: unknown key 'renderer'.*dataset="
                     r"[a-z0-9_|]+; size="):
    config_loader.load_config_file(f"{path}:renderer=numpy")
  with pytest.raises(ValueError, match=r"dataset='mnist' is not one of .*audio_folder"):
    config_loader.load_config_file(f"{path}:dataset=mnist")
  with pytest.raises(ValueError, match="'gpu' is not a value of any key"):
    config_loader.load_config_file(f"{path}:gpu")
  with pytest.raises(ValueError, match="dataset is given twice"):
    config_loader.load_config_file(f"{path}:dataset=youtube_mix,music21_piano")


def test_sizes_and_their_shorthand_agree():
  for spec, short in (("configs/default.py:size=cpu", "configs/default.py:cpu"),
                      ("configs/default.py:dataset=audio_folder,size=tiny",
                       "configs/default.py:tiny,audio_folder"),
                      ("configs/wavenet.py:size=cpu", "configs/wavenet.py:cpu"),
                      ("configs/paper_128k.py:objective=sampled",
                       "configs/paper_128k.py:sampled")):
    assert (config_loader.load_config_file(spec).to_dict()
            == config_loader.load_config_file(short).to_dict())
  # size=cpu runs on the built-in set unless a dataset is named.
  assert config_loader.load_config_file(
      "configs/sashimi.py:size=cpu").data.dataset == "music21_piano"
  assert config_loader.load_config_file(
      "configs/sashimi.py:size=cpu,dataset=audio_folder").data.dataset == "audio_folder"
  assert config_loader.load_config_file("configs/sashimi.py").data.dataset == "youtube_mix"
  tiny = config_loader.load_config_file("configs/default.py:size=tiny")
  assert tiny.num_steps == 120 and tiny.data.dataset == "music21_piano"


def test_train_names_a_bad_config_argument_in_one_message(capsys):
  from audiolm_jax import train
  assert train.main(["--config", "configs/default.py:renderer=numpy",
                     "--workdir", "/nonexistent/run"]) == 2
  err = capsys.readouterr().err
  assert "Traceback" not in err and len(err.strip().splitlines()) == 2, err
  assert ("configs/default.py: unknown key 'renderer'" in err
          and "size=demo|cpu|long|tiny" in err)
  # An override of a field goes through the same parse, from the arguments given.
  assert train.main(["--config", "configs/default.py:size=tiny",
                     "--config.data.folder=mine", "--workdir", "/nonexistent/run"]) == 2
  assert "folder" in capsys.readouterr().err
