"""A continuation against its prompt and against the recording's own continuation:
spectral flatness, level and band envelope (`spectrum.py`), and the model's predictive
spread along each (`uncertainty.py`); `format_comparison` is the line `sample` prints."""

from __future__ import annotations

import numpy as np

from audiolm_jax.data import quantization
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.generation import sampler, spectrum, uncertainty
from audiolm_jax.models.interface import AudioModel


def compare(audio: np.ndarray, prompt_samples: int,
            real_continuation: dict | None = None) -> dict:
  """Flatness, level and band envelope of the continuation against the prompt's
  (when each has one 64 ms frame), from float audio [prompt + continuation]; with
  the recording's own numbers (`yardstick`) under "real_continuation"."""
  frame = int(spectrum.FRAME_S * SAMPLE_RATE)
  if len(audio) - prompt_samples < frame:  # too short to judge its spectrum
    return {"continuation": {"median_flatness": None,
                             "level_dbfs": spectrum.level_dbfs(audio[prompt_samples:])}}
  out = {"continuation": spectrum.describe(audio[prompt_samples:])}
  if prompt_samples >= frame:
    out["prompt"] = spectrum.describe(audio[:prompt_samples])
    out["flatness_ratio"] = (out["continuation"]["median_flatness"]
                             / max(out["prompt"]["median_flatness"], 1e-12))
    out["level_difference_db"] = (out["continuation"]["level_dbfs"]
                                  - out["prompt"]["level_dbfs"])
    out["band_distance_db"] = spectrum.band_distance_db(audio[prompt_samples:],
                                                        audio[:prompt_samples])
    if real_continuation is not None:
      out["real_continuation"] = real_continuation
  return out


def yardstick(prompt: np.ndarray, real: np.ndarray, kind: str = "mu_law"
              ) -> dict | None:
  """The recording's own continuation `real` [R] of a prompt [P] (codes of the run's
  quantization `kind`) scored as `compare` scores a generated one: its flatness
  ratio, level difference and band distance; None when either is shorter than a
  64 ms frame (the file may end right after the prompt)."""
  truth = compare(quantization.decode(np.concatenate([prompt, real]), kind), prompt.size)
  if "band_distance_db" not in truth:
    return None
  return {k: truth[k] for k in ("flatness_ratio", "level_difference_db",
                                "band_distance_db")}


def spread_report(model: AudioModel, params, prompt: np.ndarray,
                  continuations: list[np.ndarray], options: sampler.SamplingOptions,
                  real: np.ndarray | None = None,
                  prompt_flatness: float | None = None) -> list[dict | None]:
  """Per continuation (codes [C] after the prompt [P]): `uncertainty.describe` of it
  under the sampling `options`, with the recording's own continuation `real`'s
  under "real_continuation" (and there, under "linear_prediction", the reference's
  `uncertainty.linear_prediction_error`) and, given the prompt's flatness, each floor
  over it ("floor_ratio", "error_floor_ratio"); None for a continuation shorter than
  one 64 ms frame."""
  frame = int(spectrum.FRAME_S * SAMPLE_RATE)
  if real is not None and real.size < frame:  # the file ends right after the prompt
    real = None
  judged = [c for c in continuations if c.size >= frame] + ([real] if real is not None
                                                            else [])
  scores = uncertainty.describe(model, params, [np.concatenate([prompt, c])
                                                for c in judged], prompt.size, options)
  real_scores = scores.pop() if real is not None else None
  if real_scores is not None:
    real_scores["linear_prediction"] = uncertainty.linear_prediction_error(
        np.concatenate([prompt, real]), prompt.size, model.quantization)
  if prompt_flatness:
    for d in scores + ([real_scores, real_scores["linear_prediction"]]
                       if real_scores is not None else []):
      if "flatness_floor" in d:
        d["floor_ratio"] = d["flatness_floor"] / max(prompt_flatness, 1e-12)
      d["error_floor_ratio"] = d["error_floor"] / max(prompt_flatness, 1e-12)
  scores = iter(scores)
  out = []
  for c in continuations:
    d = next(scores) if c.size >= frame else None
    if d is not None and real_scores is not None:
      d["real_continuation"] = real_scores
    out.append(d)
  return out


def format_comparison(r: dict) -> str:
  c = r["continuation"]
  if c["median_flatness"] is None:
    return (f"continuation: level {c['level_dbfs']:.1f} dBFS (shorter than one "
            f"{spectrum.FRAME_S * 1e3:g} ms frame: no flatness)")
  line = (f"continuation: median flatness {c['median_flatness']:.4f}, level "
          f"{c['level_dbfs']:.1f} dBFS")
  if "prompt" in r:
    p = r["prompt"]
    line += (f"; prompt {p['median_flatness']:.4f}, {p['level_dbfs']:.1f} dBFS "
             f"(flatness x{r['flatness_ratio']:.2f}, level "
             f"{r['level_difference_db']:+.1f} dB, bands {r['band_distance_db']:.1f} dB "
             f"away)")
  if "real_continuation" in r:
    t = r["real_continuation"]
    line += (f"\n  the recording's own continuation: flatness "
             f"x{t['flatness_ratio']:.2f}, level {t['level_difference_db']:+.1f} dB, "
             f"bands {t['band_distance_db']:.1f} dB away")
  if r.get("uncertainty"):
    u = r["uncertainty"]

    def ratio(d, key="floor_ratio"):  # a floor over the prompt's flatness, if any
      return f" (x{d[key]:.1f})" if key in d else ""

    line += (f"\n  the model's predictive spread along it: {u['predictive_rms_dbfs']:.1f} "
             f"dBFS RMS, a flatness floor of {u['flatness_floor']:.4f}{ratio(u)}")
    if "real_continuation" in u:
      t = u["real_continuation"]
      lp = t["linear_prediction"]
      line += (f"; along the recording's own: {t['predictive_rms_dbfs']:.1f} dBFS, "
               f"floor {t['flatness_floor']:.4f}{ratio(t)}"
               f"\n  along the recording's own, the model's mean misses by "
               f"{t['error_rms_dbfs']:.1f} dBFS RMS, floor {t['error_floor']:.4f}"
               f"{ratio(t, 'error_floor_ratio')}; linear prediction's by "
               f"{lp['error_rms_dbfs']:.1f} dBFS, floor {lp['error_floor']:.4f}"
               f"{ratio(lp, 'error_floor_ratio')}")
  return line
