"""The one grammar of a config file's argument: `--config FILE:key=value,key=value`.

Every training config takes the same keys the same way (`docs/training.md`, "Config
arguments"):

  configs/default.py:dataset=audio_folder,size=cpu
  configs/paper_128k.py:dataset=music21_piano,objective=sampled

A value given alone stands for the key it belongs to (`configs/default.py:cpu` is
`size=cpu`, `configs/paper_128k.py:youtube_mix,sampled` is
`dataset=youtube_mix,objective=sampled`), so each value names one key's choice.
An unknown key, an unknown value or a key given twice is an error that lists what the
file takes.
"""

from typing import Callable, Mapping, Sequence

from audiolm_jax.data import datasets


Defaults = Mapping[str, str] | Callable[[dict[str, str]], Mapping[str, str]]


def parse(arg: str | None, file: str, choices: Mapping[str, Sequence[str]],
          defaults: Defaults | None = None) -> dict[str, str]:
  """The keys of `arg` ("k=v,k=v" or bare values) for `file`'s `choices`.

  Returns every key of `choices`: the given value, else the default (`defaults`, or
  `defaults(given)` when a default depends on what was given), else the key's first
  choice. Raises ValueError naming the file and its valid keys and values.
  """
  valid = "; ".join(f"{k}={'|'.join(v)}" for k, v in choices.items())
  given: dict[str, str] = {}
  for word in (arg or "").split(","):
    word = word.strip()
    if not word:
      continue
    key, eq, value = word.partition("=")
    if not eq:  # a bare value: the one key whose choices hold it
      value = key
      owners = [k for k, v in choices.items() if value in v]
      if len(owners) != 1:
        raise ValueError(f"{file}: {value!r} is not a value of any key it takes; "
                         f"use key=value with {valid}")
      key = owners[0]
    key, value = key.strip(), value.strip()
    if key not in choices:
      raise ValueError(f"{file}: unknown key {key!r} in the config argument {arg!r}; "
                       f"it takes {valid}")
    if value not in choices[key]:
      raise ValueError(f"{file}: {key}={value!r} is not one of "
                       f"{'|'.join(choices[key])}")
    if key in given:
      raise ValueError(f"{file}: {key} is given twice in {arg!r}")
    given[key] = value
  fallback = defaults(given) if callable(defaults) else (defaults or {})
  return {key: given.get(key, fallback.get(key, values[0]))
          for key, values in choices.items()}


DATASETS = tuple(datasets.DATASETS)


def dataset_choices(default: str) -> tuple[str, ...]:
  """The datasets, `default` first (the value when the argument names none)."""
  return (default,) + tuple(d for d in DATASETS if d != default)
