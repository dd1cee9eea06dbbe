"""What the evaluators share: the units a protocol scores, and a split of each unit's
scores by how long a past its positions have (docs/design.md, "The protocols")."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from audiolm_jax.data import recipes
from audiolm_jax.evaluation.intervals import ratio_ci95

SASHIMI_CHUNK = recipes.SASHIMI_CHUNK


@dataclasses.dataclass
class FileScore:
  """One unit's per-sample bits: the model's (None where only the references were
  scored) and each reference predictor's."""

  name: str
  nll_bits: np.ndarray | None
  reference_bits: dict[str, np.ndarray]

  def __len__(self) -> int:
    if self.nll_bits is not None:
      return len(self.nll_bits)
    return len(next(iter(self.reference_bits.values()), ()))


def sashimi_chunks(codes: np.ndarray) -> list[np.ndarray]:
  """SaShiMi's test chunks of one file of `sashimi`-recipe codes: the whole
  131,072-sample chunks from its start (each already scaled on its own by the
  recipe), the remainder dropped."""
  n = len(codes) // SASHIMI_CHUNK
  return [codes[i * SASHIMI_CHUNK:(i + 1) * SASHIMI_CHUNK] for i in range(n)]


def protocol_units(names: Sequence[str], files: Sequence[np.ndarray], protocol: str
                   ) -> tuple[list[str], list[np.ndarray]]:
  """(names, codes) of the units `protocol` scores, each with its own context: the
  files themselves (full), or their 131,072-sample chunks (sashimi, name#i)."""
  if protocol == "full":
    return list(names), list(files)
  if protocol != "sashimi":
    raise ValueError(f"protocol {protocol!r} scores sampled positions, not units; "
                     f"use 'full' or 'sashimi'")
  unit_names, units = [], []
  for name, codes in zip(names, files):
    for i, chunk in enumerate(sashimi_chunks(codes)):
      units.append(chunk)
      unit_names.append(f"{name}#{i}")
  if not units:
    raise ValueError(f"no file is at least {SASHIMI_CHUNK} samples long: the sashimi "
                     f"protocol has nothing to score")
  return unit_names, units


def mean_references(per_unit: Sequence[dict[str, np.ndarray]]) -> dict[str, float]:
  """Each predictor's mean over every sample of every unit."""
  return {k: float(np.concatenate([r[k] for r in per_unit]).mean())
          for k in per_unit[0]}


def split_by_past(per_unit: Sequence[FileScore], horizon: int) -> dict:
  """The scores of the positions whose past in their unit is shorter than `horizon`
  samples ("short") and of the others ("rest"): each part's count and references,
  and, where the model was scored, its NLL and interval (None: an empty part)."""
  out: dict = {"samples": horizon}
  for part, cut in (("short", slice(0, horizon)), ("rest", slice(horizon, None))):
    parts = [FileScore(s.name, None if s.nll_bits is None else s.nll_bits[cut],
                       {k: v[cut] for k, v in s.reference_bits.items()})
             for s in per_unit]
    parts = [p for p in parts if len(p)]
    if not parts:
      out[part] = None
      continue
    out[part] = {"count": int(sum(len(p) for p in parts)),
                 "references": (mean_references([p.reference_bits for p in parts])
                                if parts[0].reference_bits else {})}
    if parts[0].nll_bits is not None:
      nll = np.concatenate([p.nll_bits for p in parts])
      out[part].update(
          nll_bits=float(nll.mean(dtype=np.float64)),
          ci95_bits=ratio_ci95([p.nll_bits.sum(dtype=np.float64) for p in parts],
                               [len(p) for p in parts]))
  return out
