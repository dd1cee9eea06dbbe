"""Loads a config file (`configs/X.py[:ARG]`) as train.py does."""

from __future__ import annotations

import importlib.util
import os
import re
import sys

import ml_collections

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# A wheel installs configs/ as data files here (setup.cfg, [options.data_files]).
INSTALLED_CONFIGS_ROOT = os.path.join(sys.prefix, "share", "audiolm_jax")


def load_config_file(spec: str) -> ml_collections.ConfigDict:
  """`get_config()` of a config file; "FILE:ARG" passes ARG, as train.py does.
  FILE is looked up from the working directory, then from the repository root, then
  from the configs a wheel installed."""
  path, _, arg = spec.partition(":")
  for root in ("", REPO, INSTALLED_CONFIGS_ROOT):
    if os.path.isfile(os.path.join(root, path)):
      path = os.path.join(root, path)
      break
  else:
    raise FileNotFoundError(f"config file {path!r} not found (e.g. "
                            f"configs/paper_128k.py, from the repository root)")
  module_spec = importlib.util.spec_from_file_location(
      "cfg_" + re.sub(r"\W", "_", os.path.abspath(path)), path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()
