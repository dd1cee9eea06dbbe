"""A study config -> one training config per run, under one budget.

A study config (`configs/study/*.py`, `get_config()`) holds:

  budget_targets  training targets every run gets (num_steps x batch x targets per
                  window; num_steps is set from it, so no run trains more)
  common          overrides applied to every run (nested: {"data": {"recipe": ..}})
  eval            how runs are scored: split, protocols, max_seconds_per_file,
                  num_targets, batch, truncated_positions, short_past_samples
  runs            a list of {name, config (FILE[:ARG]), overrides (nested or
                  dotted keys), group, x}:
                  group "context" rows are the paper's model at x tokens of context,
                  group "family" rows are one per model family (x = its name);
                  family_bar: True puts a context row among the family bars too
  seeds           optional: train every run once per seed (its config's `seed`: the
                  parameters' initialisation, dropout and data order), as runs
                  NAME.seedS, so the report can tell a difference between runs from
                  the spread between trainings; without it, one run per entry at
                  the config's seed, named NAME
  baseline        optional, with seeds: an entry's name; the report gives every other
                  entry minus it, paired by seed (e.g. a learning rate against the
                  default's: runs at one seed share initialisation and data order)
"""

from __future__ import annotations

import copy
import dataclasses
import re

import ml_collections

from audiolm_jax.training import config as train_config
from audiolm_jax.training import config_loader

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclasses.dataclass
class Run:
  name: str
  group: str                         # "context" or "family"
  x: object                          # tokens of context, or the family's name
  config: ml_collections.ConfigDict  # the full training config
  family_bar: bool = False           # one of the per-family bars (family runs are)
  base: str = ""                     # the study entry's name: NAME of NAME.seedS
  seed: int | None = None            # its config's seed when the study lists seeds

  def __post_init__(self):
    self.base = self.base or self.name


load_config_file = config_loader.load_config_file  # study configs load the same way


def same_protocol_as(base_path: str, name: str) -> ml_collections.ConfigDict:
  """A study config named `name` with the study at `base_path`'s budget_targets,
  common overrides and eval: a new question asked under that study's protocol
  (the caller adds seeds, baseline and runs)."""
  base = config_loader.load_config_file(base_path)
  c = ml_collections.ConfigDict()
  c.name = name
  c.budget_targets = base.budget_targets
  c.common = base.common
  c.eval = base.eval
  return c


def set_dotted(config: ml_collections.ConfigDict, key: str, value) -> None:
  """config["a"]["b"] = value for key "a.b"; a key the config lacks is an error."""
  node = config
  *parents, leaf = key.split(".")
  for p in parents:
    if p not in node:
      raise KeyError(f"override {key!r}: the config has no field {p!r}")
    node = node[p]
  if leaf not in node:
    raise KeyError(f"override {key!r}: the config has no field {leaf!r}")
  node[leaf] = value


def flatten(overrides, prefix: str = "") -> dict:
  """{"data": {"recipe": "x"}, "model.context": 5} -> {"data.recipe": "x",
  "model.context": 5}: nested (ConfigDict-friendly) or dotted overrides alike."""
  out = {}
  for key, value in dict(overrides or {}).items():
    if isinstance(value, (dict, ml_collections.ConfigDict)):
      out.update(flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def _seeds(study: ml_collections.ConfigDict) -> list[int] | None:
  """The study's seeds (None: one run per entry at its config's seed)."""
  seeds = study.get("seeds")
  if seeds is None:
    return None
  seeds = list(seeds)
  if (not seeds or len(set(seeds)) != len(seeds)
      or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                 for s in seeds)):
    raise ValueError(f"study seeds {seeds!r}: give distinct non-negative integers, "
                     f"e.g. (0, 1, 2), or leave `seeds` out for one run per entry")
  return seeds


def plan(study: ml_collections.ConfigDict) -> list[Run]:
  """Every run's training config, with num_steps set from the shared budget; with
  `seeds`, entry-major: NAME.seedS for each seed S of each entry."""
  runs, names, problems = [], set(), []
  budget = int(study.budget_targets)
  seeds = _seeds(study)
  for entry in study.runs:
    name = entry["name"]
    if not _NAME.match(name) or name in names:
      problems.append(f"run name {name!r} must be unique and use only letters, "
                      f"digits, '_', '-' and '.'")
      continue
    names.add(name)
    config = config_loader.load_config_file(entry["config"])
    for key, value in {**flatten(study.get("common")),
                       **flatten(entry.get("overrides"))}.items():
      set_dotted(config, key, value)
    per_step = config.batch_size * train_config.window_targets(config)
    if budget % per_step:
      problems.append(f"run {name}: {per_step} targets per step do not divide the "
                      f"budget of {budget:,} targets")
      continue
    config.num_steps = budget // per_step
    group = entry.get("group", "family")
    for seed in seeds or [None]:
      seeded = config
      if seed is not None:
        seeded = copy.deepcopy(config)
        seeded.seed = seed
      runs.append(Run(name if seed is None else f"{name}.seed{seed}", group,
                      entry.get("x", name), seeded,
                      entry.get("family_bar", group == "family"), base=name,
                      seed=seed))
  baseline = study.get("baseline")
  if baseline is not None and (baseline not in names or not seeds or len(seeds) < 2):
    problems.append(f"baseline {baseline!r} must name one of the runs ("
                    f"{', '.join(sorted(names))}) of a study with 2 or more seeds")
  if problems:
    raise ValueError("invalid study:\n  - " + "\n  - ".join(problems))
  return runs


def shard(runs: list[Run], spec: str | None) -> list[Run]:
  """The runs of shard "K/N" (run i goes to shard i mod N); all runs without one."""
  if not spec:
    return runs
  try:
    k, n = (int(v) for v in spec.split("/"))
  except ValueError:
    raise ValueError(f"--shard={spec!r}: use K/N, e.g. 0/2") from None
  if not 0 <= k < n:
    raise ValueError(f"--shard={spec!r}: K must lie in [0, N)")
  return [r for i, r in enumerate(runs) if i % n == k]
