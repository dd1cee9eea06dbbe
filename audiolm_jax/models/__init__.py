"""Model families by name: `config.model.name` picks one, nothing else changes.

Each family is one module exposing an `AudioModel` subclass (see `interface.py`) with
a frozen `config_class`; `build(name, **fields)` makes one, and `from_fields` does the
same from a config's `model` dict (the saved JSON of a run included).
"""

from __future__ import annotations

import importlib
from typing import Any

from audiolm_jax.models.interface import AudioModel

# name -> (module, class). Imported on demand, as big_vision picks its models.
FAMILIES: dict[str, tuple[str, str]] = {
    "cnn_transformer": ("audiolm_jax.models.cnn_transformer", "CNNTransformer"),
    "wavenet": ("audiolm_jax.models.wavenet", "WaveNet"),
    "samplernn": ("audiolm_jax.models.samplernn", "SampleRNN"),
    "sashimi": ("audiolm_jax.models.sashimi", "Sashimi"),
}
DEFAULT_FAMILY = "cnn_transformer"


def family(name: str) -> type[AudioModel]:
  """The AudioModel class of a family name."""
  if name not in FAMILIES:
    raise ValueError(f"unknown model family {name!r}; use one of {sorted(FAMILIES)} "
                     f"(config.model.name)")
  module, cls = FAMILIES[name]
  return getattr(importlib.import_module(module), cls)


def build(name: str, **fields: Any) -> AudioModel:
  """An AudioModel of family `name` whose config has `fields` (others default)."""
  cls = family(name)
  return cls(cls.config_class(**fields))


def from_fields(model_fields: dict[str, Any]) -> AudioModel:
  """An AudioModel from a config's `model` dict: {"name": ..., **config fields}.

  Runs saved before families existed have no "name": they are the paper's model.
  """
  fields = dict(model_fields)
  return build(fields.pop("name", DEFAULT_FAMILY), **fields)


def build_at_size(name: str, preset: str, **fields: Any) -> AudioModel:
  """A family at the size the benchmarks compare: the paper's model at a named
  preset of `models/cnn_transformer_config.py` (paper_128k, paper_500k, million, tiny) with
  `fields` overriding it; every other family at its config's defaults (its paper
  size), `fields` overriding those."""
  if name == DEFAULT_FAMILY:
    from audiolm_jax.models.cnn_transformer_config import get_model_config  # pylint: disable=g-import-not-at-top
    cls = family(name)
    return cls(get_model_config(preset, **fields))
  return build(name, **fields)
