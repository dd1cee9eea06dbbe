"""A trained run as its readers see it: `open_run(workdir, step)`.

Evaluation, generation, the codec, the studies and the benchmarks read a finished
run the same way: the config saved with a checkpoint step, the model it describes,
that step's parameters (checked against their checksums), the recipe its codes were
made by and the dataset folder it trained on. Nothing here imports `training`: a
reader needs the saved run, not the machinery that wrote it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from audiolm_jax import models
from audiolm_jax.checkpoints.reading import load_params
from audiolm_jax.data import datasets, recipes


@dataclasses.dataclass(frozen=True)
class TrainedRun:
  """One checkpoint step of a run."""

  workdir: str
  step: int
  config: dict              # the training config saved with the step (JSON)
  params: Any               # the step's parameters, on this process's first device
  model: models.AudioModel  # the family and config the run trained

  @property
  def recipe(self) -> str:
    """The recipe that made the codes the model learned."""
    return saved_recipe(self.config)

  @property
  def dataset_dir(self) -> str:
    """The prepared dataset folder the run trained on."""
    return saved_dataset_dir(self.config)


def open_run(workdir: str, step: int | None = None) -> TrainedRun:
  """Checkpoint `step` (default: the newest) of the run in `workdir`.

  Raises FileNotFoundError (no checkpoints, no such step) or DamagedCheckpointError
  (the step does not read back as saved), each saying what to do.
  """
  config, params, step = load_params(workdir, step)
  return TrainedRun(workdir=workdir, step=step, config=config, params=params,
                    model=saved_model(config))


def saved_model(saved: dict) -> models.AudioModel:
  """The model of a run, from its saved config."""
  return models.from_fields(saved["model"])


def saved_recipe(saved: dict) -> str:
  """The recipe of a run, from its saved config."""
  return recipes.of_data(saved.get("data"))


def saved_dataset_dir(saved: dict) -> str:
  """The dataset folder of a run, from its saved config."""
  d = saved.get("data", {})
  return datasets.dataset_dir(datasets.spec_from_fields(d), datasets.data_dir_of(d))
