"""A study's runs grouped over their seeds: the training run as the random unit.

A run's own interval (evaluate's) treats the test files as random and the trained
model as fixed, so two runs of one config at different seeds can differ by more
than it. Here every entry trained at several seeds gives one NLL per seed on the
same test files; the mean's interval over seeds (Student's t, n - 1 degrees of
freedom) is the spread of the training, and two entries are compared by Welch's
interval on their seed means (their seeds are independent trainings: different
models, so not paired).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def base_name(run: dict) -> str:
  """The study entry a run belongs to (results written before seeds: its name)."""
  return run.get("base") or run["name"]


def above_previous_sample(evaluation: dict) -> bool:
  """Whether one protocol's score is no better than its previous-sample reference
  (on the same samples): a training that learned less than "the next sample is the
  last one". Kept in every mean; the tables mark it so the reader can judge."""
  previous = (evaluation.get("references") or {}).get("previous_sample")
  return previous is not None and evaluation["nll_bits"] >= previous


def over_seeds(runs: list[dict], protocol: str) -> list[dict]:
  """One row per study entry, in the runs' order: {base, group, x, seeds, nll_bits
  (per seed), mean_bits, sd_bits, ci95_bits (None below 2 seeds)}."""
  rows: dict[str, dict] = {}
  for r in runs:
    row = rows.setdefault(base_name(r), {
        "base": base_name(r), "group": r["group"], "x": r["x"], "seeds": [],
        "nll_bits": []})
    row["seeds"].append(r.get("seed"))
    row["nll_bits"].append(r["eval"][protocol]["nll_bits"])
  for row in rows.values():
    v = np.asarray(row["nll_bits"], np.float64)
    n = len(v)
    row["mean_bits"] = float(v.mean())
    row["sd_bits"] = float(v.std(ddof=1)) if n > 1 else None
    row["ci95_bits"] = (float(stats.t.ppf(0.975, n - 1) * row["sd_bits"] / math.sqrt(n))
                        if n > 1 else None)
  return list(rows.values())


def minus(a: dict, b: dict) -> dict:
  """a's seed mean minus b's, with Welch's 95 % interval ({diff_bits, ci95_bits,
  df}; ci95_bits None unless both have 2 or more seeds)."""
  diff = a["mean_bits"] - b["mean_bits"]
  na, nb = len(a["nll_bits"]), len(b["nll_bits"])
  if na < 2 or nb < 2:
    return {"diff_bits": diff, "ci95_bits": None, "df": None}
  va, vb = a["sd_bits"] ** 2 / na, b["sd_bits"] ** 2 / nb
  se2 = va + vb
  if se2 == 0:  # identical trainings at every seed: no spread to scale
    return {"diff_bits": diff, "ci95_bits": 0.0, "df": float(na + nb - 2)}
  df = se2 ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
  return {"diff_bits": diff, "ci95_bits": float(stats.t.ppf(0.975, df) * math.sqrt(se2)),
          "df": float(df)}


def paired(a: dict, b: dict) -> dict:
  """a minus b paired by seed, over the seeds both trained ({diff_bits, ci95_bits,
  seeds}; ci95_bits None below 2 shared seeds). One seed is one initialisation and
  data order, so a's and b's runs at it differ only by what their configs change."""
  b_at = dict(zip(b["seeds"], b["nll_bits"]))
  shared = [(s, v) for s, v in zip(a["seeds"], a["nll_bits"]) if s in b_at]
  d = np.asarray([v - b_at[s] for s, v in shared], np.float64)
  n = len(d)
  ci = (float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n))
        if n > 1 else None)
  return {"diff_bits": float(d.mean()) if n else None, "ci95_bits": ci,
          "seeds": [s for s, _ in shared]}


def summary(runs: list[dict], protocol: str, baseline: str | None = None
            ) -> list[dict] | None:
  """over_seeds rows, each context row with `minus_shortest` (minus the shortest
  context's seed mean) and, given a `baseline` entry, every other row with
  `minus_baseline` (`paired`); None when no entry has more than one seed."""
  rows = over_seeds(runs, protocol)
  if all(len(r["nll_bits"]) < 2 for r in rows):
    return None
  base = next((r for r in rows if r["base"] == baseline), None)
  if base is not None:
    for r in rows:
      if r is not base:
        r["minus_baseline"] = {"base": baseline, **paired(r, base)}
  context = [r for r in rows if r["group"] == "context"]
  if context:
    shortest = min(context, key=lambda r: r["x"])
    for r in context:
      if r is shortest:
        continue
      r["minus_shortest"] = {"base": shortest["base"], **minus(r, shortest)}
  return rows
