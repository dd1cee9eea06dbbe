"""The one result schema of every NLL the project reports.

Validation during training, `evaluate` (splits and recordings), the study runner and
the benchmarks all describe a score with the same keys:

    {"nll_bits":   mean NLL of the model, bits per sample,
     "ci95_bits":  half-width of its 95 % interval,
     "interval":   what the interval is over (files, chunks, positions, windows),
     "samples":    the number of samples scored,
     "units":      the independent units the interval treats as such,
     "references": {predictor: mean NLL in bits on the same samples}}

`evaluate` adds the protocol, the recipe and a per-file breakdown; the training log
(`metrics.jsonl`, TensorBoard) holds the same numbers flattened by `flat`.
"""

from __future__ import annotations


def summary(nll_bits: float, ci95_bits: float, *, interval: str, samples: int,
            units: int, references: dict[str, float]) -> dict:
  """A score in the schema above."""
  return {"nll_bits": float(nll_bits), "ci95_bits": float(ci95_bits),
          "interval": interval, "samples": int(samples), "units": int(units),
          "references": {k: float(v) for k, v in references.items()}}


def flat(result: dict) -> dict[str, float]:
  """The numbers of a summary as scalars: nll_bits, ci95_bits, samples and
  <predictor>_bits (what the metric writers log)."""
  return {"nll_bits": result["nll_bits"], "ci95_bits": result["ci95_bits"],
          "samples": float(result["samples"]),
          **{f"{k}_bits": v for k, v in result["references"].items()}}
