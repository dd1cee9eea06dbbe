"""The training config's schema, its translation to plain dataclasses, its checks.

Config files (`configs/*.py`) build on `base_config()` with the helpers of
`config_builders.py`, and load through `config_loader.py`. The ConfigDict stops at the
training side (this module, `train.py`, the loop and its sharding, the study
planner, the training benchmarks): the models get frozen config dataclasses, the
data a `DatasetSpec` and a `PipelineConfig`.
"""

from __future__ import annotations

import dataclasses
import os

import ml_collections
import numpy as np

from audiolm_jax import models
from audiolm_jax.models import cnn_transformer_config as model_config
from audiolm_jax.data import datasets, recipes


def model_fields(preset: str = "paper_128k", **changes) -> ml_collections.ConfigDict:
  """The paper model's fields from a preset, as a ConfigDict (overridable by flag).

  Every field of `CNNTransformerConfig` (see its comments) plus `name`, the model family;
  derived from the dataclass, so a new field needs no change here.
  """
  cfg = model_config.get_model_config(preset, **changes)
  return ml_collections.ConfigDict(
      {"name": models.DEFAULT_FAMILY,
       **{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}})


def base_config() -> ml_collections.ConfigDict:
  """Fields every config has; the paper's training setup where it gives one."""
  c = ml_collections.ConfigDict()
  c.seed = 0                      # parameters, dropout and data order
  c.data = ml_collections.ConfigDict({
      "dataset": "music21_piano",  # music21_piano | youtube_mix | audio_folder
      "variant": "full",           # music21_piano: full (~4 h) | tiny (~5 min)
      "renderer": "auto",          # music21_piano: auto | fluidsynth | numpy | mix
      "manual_dir": "",            # youtube_mix / audio_folder: the audio files
      "folder_name": "default",    # audio_folder: the dataset's name
      "data_dir": "",              # TFDS data_dir ('' = $AUDIOLM_DATA_DIR or ~/tensorflow_datasets)
      "recipe": recipes.DEFAULT,   # audio -> codes: mu_law | linear | sashimi (data/recipes.py)
      "gain_db": (),               # (lo, hi): a random gain per training window, in dB; () off
      "worker_count": 2,           # Grain worker processes per host (0 = in-process)
      "prefetch": 4,               # batches buffered per worker
  })
  c.model = model_fields()
  c.objective = "dense"           # dense: K targets per window | sampled: the paper's 1
  c.num_targets = 1024            # dense: targets per window (K)
  c.batch_size = 40               # global windows per step (divisible by devices)
  c.num_steps = 500_000           # optimizer steps
  c.optimizer = ml_collections.ConfigDict({
      "learning_rate": 1e-4,       # Adam, the paper's
      "decay_step": 250_000,       # then drop to ...
      "decayed_learning_rate": 5e-6,
      "warmup_steps": 0,           # linear warmup (0: none, as the paper)
      "grad_clip_norm": 0.0,       # global-norm clipping (0: off)
      "grad_clip_value": 0.0,      # per-value clipping to [-v, v] (0: off)
      "weight_decay": 0.0,         # > 0: AdamW with this decoupled weight decay
      "plateau_factor": 0.0,       # > 0: multiply the lr by it on a loss plateau
      "plateau_patience": 5,       # ... after this many averages without progress
      "plateau_steps": 1000,       # ... each the mean training loss of this many steps
  })
  c.log_every = 50                # steps between logged train metrics
  c.eval_every = 5_000            # steps between validation NLLs (0: only at the end)
  c.eval_windows = 64             # validation windows (x num_targets targets each)
  c.checkpoint_every = 5_000      # steps between checkpoints
  c.keep_checkpoints = 3          # how many to keep
  c.profile = ml_collections.ConfigDict({
      "start_step": -1,            # first profiled step (-1: no profile)
      "num_steps": 5,              # steps in the trace
  })
  return c




def to_model(config: ml_collections.ConfigDict) -> models.AudioModel:
  """The configured model family with its config (`config.model`)."""
  return models.from_fields(config.model.to_dict())


def to_dataset_spec(config: ml_collections.ConfigDict) -> datasets.DatasetSpec:
  return datasets.spec_from_fields(config.data)


def data_dir(config: ml_collections.ConfigDict) -> str:
  return datasets.data_dir_of(config.data)


def window_targets(config: ml_collections.ConfigDict) -> int:
  """Targets per window: num_targets for the dense objective, 1 for sampled."""
  return config.num_targets if config.objective == "dense" else 1


def checked_model(config: ml_collections.ConfigDict, device_count: int,
                  process_count: int = 1, *, check_data: bool = True
                  ) -> models.AudioModel:
  """The model `config` describes, after checking everything that can be checked
  before any data or compilation (`check_data=False`: nothing that needs the
  dataset's files, for compiling without them).

  Raises ValueError with every problem found and what to change.
  """
  problems = []
  try:
    model = to_model(config)
  except (ValueError, TypeError) as e:
    problems.append(str(e).replace("\n", "\n  "))
    model = None
  recipe = recipes.of_data(config.data)
  if recipe not in recipes.RECIPES:
    problems.append(f"data.recipe={recipe!r}; use one of {recipes.RECIPES}")
  elif model is not None and model.quantization != recipes.quantization_of(recipe):
    problems.append(
        f"data.recipe={recipe!r} makes {recipes.quantization_of(recipe)} codes but "
        f"model.quantization={model.quantization!r}; set --config.model.quantization="
        f"{recipes.quantization_of(recipe)} or pick a {model.quantization} recipe")
  gain = tuple(config.data.get("gain_db", ()) or ())
  if gain:
    if (len(gain) != 2 or not all(np.isfinite(g) for g in gain) or gain[0] > gain[1]
        or gain[1] > 24 or gain[0] < -60):
      problems.append(f"data.gain_db={gain}: give (lo, hi) in dB with -60 <= lo <= hi "
                      f"<= 24, or () for no gain augmentation")
    elif recipe in recipes.RECIPES and not recipes.gain_changes_codes(recipe):
      problems.append(
          f"data.gain_db={gain} with data.recipe={recipe!r}: that recipe min-max scales "
          f"every chunk, so a gain changes nothing; set --config.data.gain_db='()' or "
          f"use a mu_law/linear recipe")
  if config.objective not in ("dense", "sampled"):
    problems.append(f"objective={config.objective!r}; use 'dense' or 'sampled'")
  if model is not None and model.stateful:
    if config.objective != "dense":
      problems.append(f"{model.name} trains by truncated backprop over consecutive "
                      f"segments: use objective='dense'")
    if config.num_targets % model.window_context:
      problems.append(f"num_targets={config.num_targets} (the TBPTT segment) must "
                      f"be a multiple of {model.name}'s top frame "
                      f"({model.window_context} samples)")
  if config.num_targets < 1:
    problems.append(f"num_targets={config.num_targets} must be >= 1")
  if config.batch_size < 1 or config.batch_size % device_count:
    problems.append(
        f"batch_size={config.batch_size} must be a positive multiple of the "
        f"{device_count} devices; try {max(1, config.batch_size // device_count) * device_count}")
  elif (config.batch_size // process_count) % (device_count // process_count):
    problems.append(f"batch_size={config.batch_size} does not split evenly over "
                    f"{process_count} processes of {device_count // process_count} "
                    f"devices")
  if config.data.dataset not in datasets.DATASETS:
    problems.append(f"data.dataset={config.data.dataset!r}; use one of "
                    f"{datasets.DATASETS}")
  elif (check_data and config.data.dataset != "music21_piano"
        and not config.data.manual_dir):
    built = datasets.dataset_dir(to_dataset_spec(config), data_dir(config))
    if not os.path.isfile(os.path.join(built, "dataset_info.json")):
      problems.append(f"data.dataset={config.data.dataset!r} is not built at {built} "
                      f"and needs data.manual_dir: the folder that holds its audio")
  if config.num_steps < 1:
    problems.append(f"num_steps={config.num_steps} must be >= 1")
  for name in ("log_every", "checkpoint_every"):
    if config[name] < 1:
      problems.append(f"{name}={config[name]} must be >= 1")
  if problems:
    raise ValueError("invalid config:\n  - " + "\n  - ".join(problems))
  return model
