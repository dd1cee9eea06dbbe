"""The building blocks `configs/*.py` call: a family's fields, the shared CPU budget,
a dataset chosen by the config's argument, the paper's setup for a preset.

configs/ is installed as data files, not a package (setup.cfg): a config file
imports these from the installed library, so it loads from a wheel too.
"""

from __future__ import annotations

import dataclasses

import ml_collections

from audiolm_jax import models
from audiolm_jax.training import config_args
from audiolm_jax.training.config import base_config, model_fields


def family_fields(name: str, **changes) -> ml_collections.ConfigDict:
  """Every config field of model family `name` (defaults with `changes`), plus name."""
  cls = models.family(name)
  cfg = cls.config_class(**changes)
  return ml_collections.ConfigDict(
      {"name": name, **{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}})


def cpu_budget(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Sets the CPU training budget and schedule of configs/default.py:cpu (700 steps of
  8 windows x 512 targets, lr 1e-3 with warmup and a step decay), which every
  family's `:cpu` variant shares so that they compare at equal work."""
  c.num_targets = 512                 # dense targets per window
  c.batch_size = 8                    # windows per step: 4,096 targets
  c.num_steps = 700                   # ~7 minutes on 2 CPU cores
  c.optimizer.learning_rate = 1e-3    # a small model and a short run
  c.optimizer.warmup_steps = 50
  c.optimizer.decay_step = 550
  c.optimizer.decayed_learning_rate = 1e-4
  c.log_every = 10
  c.eval_every = 350
  c.eval_windows = 32
  c.checkpoint_every = 100
  return c


def dataset_config(arg: str | None, file: str, sizes: tuple[str, ...] = ("full", "cpu"),
                   objective: bool = False
                   ) -> tuple[ml_collections.ConfigDict, dict[str, str]]:
  """base_config() with the dataset of `file`'s argument `arg`, parsed by the one
  grammar (`training/config_args.py`): keys `dataset`, `size` (`sizes`, the first the
  default) and, with `objective`, `objective` (dense | sampled). Returns the config
  and every key's value. `size=cpu` runs on the built-in set unless a dataset is
  given; otherwise the default dataset is YouTubeMix, the paper's."""
  choices = {"dataset": config_args.dataset_choices("youtube_mix"), "size": sizes}
  if objective:
    choices["objective"] = ("dense", "sampled")
  keys = config_args.parse(
      arg, file, choices,
      lambda given: {"dataset": "music21_piano"} if given.get("size") == "cpu" else {})
  c = base_config()
  c.data.dataset = keys["dataset"]
  return c, keys


def paper_config(preset: str, arg: str | None, file: str) -> ml_collections.ConfigDict:
  """The paper's training setup for a model preset; arg `dataset=D,objective=O`."""
  c, keys = dataset_config(arg, file, sizes=("full",), objective=True)
  c.model = model_fields(preset)
  c.objective = keys["objective"]
  return c
