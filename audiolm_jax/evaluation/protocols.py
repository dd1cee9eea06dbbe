"""Negative log-likelihood in bits per sample, three protocols.

The protocols are defined in docs/design.md, "The protocols".

Every protocol scores the codes of the run's recipe (`data/recipes.py`).

* full: every sample of every file, each with all the left context the model takes
  (silence before the file's start). The mean over all samples, with a 95 % interval
  for that same sample-weighted mean: files are the independent units (a ratio
  estimator: sum of NLL over sum of samples, its standard error from the files'
  residuals).
* sashimi: SaShiMi's protocol, exactly: the `sashimi` recipe's codes (each
  131,072-sample chunk from a file's start min-max scaled on its own, then mu-law),
  cut into those chunks (remainder dropped), context reset at each chunk start, the
  mean over every position. Chunks are equally long, so the interval over chunk means
  describes the same mean. Refused for codes of another recipe.
* sampled: N random positions (files in proportion to length) with the model's whole
  context, one target each: the usual scoring of a one-target-per-context model,
  through `target_logits` (the paper model's chunked path, its real cost). 95 %
  interval over positions.

Every result carries the number of samples scored and the NLL of the three reference
predictors on the same samples, in the schema of `schema.py`; the scorers the
protocols share are `scorer.py`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from audiolm_jax.data import recipes
from audiolm_jax.evaluation import schema
from audiolm_jax.evaluation.intervals import mean_ci95, ratio_ci95
from audiolm_jax.evaluation.references import References
from audiolm_jax.evaluation.scorer import Scorer, TargetScorer

SASHIMI_CHUNK = recipes.SASHIMI_CHUNK
PROTOCOLS = ("full", "sashimi", "sampled")


@dataclasses.dataclass
class FileScore:
  name: str
  nll_bits: np.ndarray                # per scored sample
  reference_bits: dict[str, np.ndarray]


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


def reference_summary(references: References, names: Sequence[str],
                      files: Sequence[np.ndarray], protocol: str, *,
                      max_samples_per_file: int | None = None, short_past: int = 0
                      ) -> dict:
  """The reference predictors alone on the samples `evaluate_files` scores under
  `protocol` (full or sashimi), in the same fields: {"samples", "units",
  "references", "short_past": {"short"/"rest": {"count", "references"}}}.

  For adding a predictor to results scored before it existed: it depends on the
  data only, not on the model.
  """
  files = [np.asarray(f, np.uint8)[:max_samples_per_file or None] for f in files]
  _, units = protocol_units(names, files, protocol)
  refs = [references.sequence_bits(u) for u in units if len(u)]
  if not refs:
    raise ValueError("the split holds no samples")
  out = {"samples": int(sum(len(r["marginal"]) for r in refs)), "units": len(refs),
         "references": _mean_references(refs)}
  if short_past:
    out["short_past"] = {"samples": short_past}
    for part, cut in (("short", slice(0, short_past)), ("rest", slice(short_past, None))):
      parts = [{k: v[cut] for k, v in r.items()} for r in refs if len(r["marginal"][cut])]
      out["short_past"][part] = ({"count": int(sum(len(r["marginal"]) for r in parts)),
                                  "references": _mean_references(parts)}
                                 if parts else None)
  return out


def _mean_references(per_unit: list[dict[str, np.ndarray]]) -> dict[str, float]:
  """Each predictor's mean over every sample of every unit."""
  return {k: float(np.concatenate([r[k] for r in per_unit]).mean())
          for k in per_unit[0]}


def evaluate_files(scorer: Scorer, references: References | None, names: Sequence[str],
                   files: Sequence[np.ndarray], protocol: str, *,
                   recipe: str = recipes.DEFAULT, num_positions: int = 10_000, seed: int = 0,
                   max_samples_per_file: int | None = None, short_past: int = 0,
                   progress: Callable[[int], None] | None = None) -> dict:
  """Scores one split's files (codes made by `recipe`) under one protocol; returns
  the summary and per-unit results (without reference predictors if None).

  short_past > 0 (full, sashimi): also the NLL of the positions t < short_past of
  each unit (their true past is shorter than short_past samples) and of the rest.
  """
  if protocol not in PROTOCOLS:
    raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")
  if protocol == "sashimi" and recipe != "sashimi":
    raise ValueError(
        f"the sashimi protocol scores the sashimi recipe's codes (each 131,072-sample "
        f"chunk min-max scaled, as s4 does), but this model reads {recipe!r} codes: "
        f"scoring it on other codes than it trained on measures a different task. "
        f"Train with --config.data.recipe=sashimi to compare with SaShiMi's numbers, "
        f"or use --protocol full")
  files = [np.asarray(f, np.uint8) for f in files]
  if max_samples_per_file:
    files = [f[:max_samples_per_file] for f in files]
  extra = {}
  if protocol in ("full", "sashimi"):
    unit_names, units = protocol_units(names, files, protocol)
    nll = scorer.score_files(units, progress)
    refs = [references.sequence_bits(u) if references else {} for u in units]
    per_unit = [FileScore(n, x, r) for n, x, r in zip(unit_names, nll, refs)
                if len(x)]
    if not per_unit:
      raise ValueError("the split holds no samples")
    all_nll = np.concatenate([s.nll_bits for s in per_unit])
    ref_all = {k: np.concatenate([s.reference_bits[k] for s in per_unit])
               for k in per_unit[0].reference_bits}
    ci = ratio_ci95([s.nll_bits.sum(dtype=np.float64) for s in per_unit],
                    [len(s.nll_bits) for s in per_unit])
    if short_past:
      extra["short_past"] = _split_by_past(per_unit, short_past)
  else:
    all_nll, ref_all, per_unit, extra = _sampled(scorer, references, names, files,
                                                 num_positions, seed, progress)
    ci = mean_ci95(all_nll)
  return {
      "protocol": protocol,
      "recipe": recipe,
      **schema.summary(
          all_nll.mean(dtype=np.float64), ci,
          interval=("95 % interval of the sample-weighted mean, files as units"
                    if protocol == "full" else
                    "95 % interval over chunk means" if protocol == "sashimi" else
                    "95 % interval over positions"),
          samples=all_nll.size, units=len(per_unit),
          references={k: v.mean() for k, v in ref_all.items()}),
      **extra,
      "per_file": [{"name": s.name, "samples": int(s.nll_bits.size),
                    "nll_bits": float(s.nll_bits.mean()) if s.nll_bits.size else None,
                    **{f"{k}_bits": float(v.mean()) for k, v in s.reference_bits.items()
                       if v.size}}
                   for s in per_unit],
  }


def _split_by_past(per_unit: list[FileScore], horizon: int) -> dict:
  """NLL of the positions whose past in their unit is shorter than `horizon` samples,
  and of the others, each with its interval and the references."""
  out = {"samples": horizon}
  for part, cut in (("short", slice(0, horizon)), ("rest", slice(horizon, None))):
    units = [(s.nll_bits[cut], {k: v[cut] for k, v in s.reference_bits.items()})
             for s in per_unit if len(s.nll_bits[cut])]
    if not units:
      out[part] = None
      continue
    nll = np.concatenate([u for u, _ in units])
    out[part] = {
        "nll_bits": float(nll.mean(dtype=np.float64)), "count": int(nll.size),
        "ci95_bits": ratio_ci95([u.sum(dtype=np.float64) for u, _ in units],
                                [len(u) for u, _ in units]),
        "references": {k: float(np.concatenate([r[k] for _, r in units]).mean())
                       for k in units[0][1]}}
  return out


def sampled_positions(lengths: Sequence[int], num_positions: int, seed: int
                      ) -> tuple[np.ndarray, np.ndarray]:
  """The `sampled` protocol's draw: (file index [N], position in that file [N]),
  uniform over every sample of the split (so files in proportion to length)."""
  lengths = np.asarray(lengths, np.int64)
  if lengths.sum() == 0:
    raise ValueError("the split holds no samples")
  flat = np.random.default_rng(seed).integers(0, lengths.sum(), num_positions)
  file_index = np.searchsorted(np.cumsum(lengths), flat, side="right")
  return file_index, flat - np.concatenate([[0], np.cumsum(lengths)])[file_index]


def _sampled(scorer: Scorer, references: References, names, files, num_positions,
             seed, progress=None):
  file_index, position = sampled_positions([len(f) for f in files], num_positions,
                                           seed)
  one = TargetScorer(scorer.model, scorer.params, batch=scorer.batch)
  c, silence = one.context, scorer.silence
  nll = []
  for i in range(0, num_positions, one.batch * 16):  # contexts built a block at a time
    block = range(i, min(i + one.batch * 16, num_positions))
    contexts = np.full((len(block), c), silence, np.uint8)
    targets = np.empty(len(block), np.uint8)
    for row, j in enumerate(block):
      codes, p = files[file_index[j]], position[j]
      past = codes[max(p - c, 0):p]
      contexts[row, c - len(past):] = past
      targets[row] = codes[p]
    nll.append(one(contexts, targets, progress))
  nll = np.concatenate(nll)
  refs = {}
  if references:  # each position given its file's past, one file at a time
    parts = {f: references.position_bits(files[f], position[file_index == f])
             for f in np.unique(file_index)}
    order = np.argsort(file_index, kind="stable")  # positions grouped by file
    refs = {k: np.empty(num_positions) for k in next(iter(parts.values()))}
    for k, v in refs.items():
      v[order] = np.concatenate([parts[f][k] for f in sorted(parts)])
  per_file = []
  for f, name in enumerate(names):
    mask = file_index == f
    if mask.any():
      per_file.append(FileScore(name, nll[mask], {k: v[mask] for k, v in refs.items()}))
  extra = {"flops_per_scored_target": one.flops_per_target,
           "scoring_path": scorer.model.target_path}
  return nll, refs, per_file, extra
