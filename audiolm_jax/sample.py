"""Sample: `python -m audiolm_jax.sample --workdir DIR [--prompt file.wav] --seconds S`.

Continues a prompt (any WAV/FLAC/OGG, any rate and channels: converted to 16 kHz
mono; longer than the context: its end is used) or a prompt cut from the run's test
split (`--prompt_split test`), or silence. Writes, per stream, a 16 kHz WAV (prompt
then continuation), a waveform + spectrogram PNG with the prompt shaded, and a JSON
comparing the continuation with the prompt (median spectral flatness of 64 ms frames:
near 0 tonal, ~0.55 white noise; RMS level in dBFS; how far its third-octave band
envelope lies from the prompt's, in dB), into WORKDIR/samples (or --out). A prompt cut
from a split also gets the same three numbers for the recording's own continuation.
The JSON also holds how uncertain the model was along the continuation, and along
the recording's own: the RMS spread of the distributions sampled from, and the
spectral flatness that spread implies (`generation/uncertainty.py`).
Existing files are never overwritten: names get the next free number.
"""

from __future__ import annotations

import os
import sys
import time

import jax
import numpy as np
import tqdm
from absl import flags

from audiolm_jax import cli, strict_json
from audiolm_jax.data import audio_io, pipeline, quantization, recipes
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.generation import sampler, spectrum, uncertainty
from audiolm_jax.generation.plots import waveform_and_spectrogram
from audiolm_jax.models.interface import AudioModel
from audiolm_jax.training import config as train_config
from audiolm_jax.training.checkpointing import load_params


def _free_stem(folder: str, stem: str) -> str:
  i = 0
  while any(os.path.exists(os.path.join(folder, f"{stem}_{i:03d}{ext}"))
            for ext in (".wav", ".png", ".json")):
    i += 1
  return os.path.join(folder, f"{stem}_{i:03d}")


# A drawn prompt quieter than this is redrawn: a piece's final silence or a rest (a
# few mu-law steps at most) gives the model nothing to continue and the comparisons
# nothing to measure (flatness 1, level -inf).
MIN_PROMPT_DBFS = -60.0
_PROMPT_DRAWS = 100


def _split_excerpt(dataset_dir: str, split: str, recipe: str, seconds: float,
                   seed: int) -> tuple[np.ndarray, int, str]:
  """A seeded file of the split: (its codes [T], the prompt's start, its name).

  Draws (file, start) pairs from one seeded stream until the excerpt's level is above
  `MIN_PROMPT_DBFS`, so a seed whose first draw holds audio keeps that draw.
  """
  flat = pipeline.FlatSplit(dataset_dir, split, recipe)
  rng = np.random.default_rng(seed)
  n = int(seconds * SAMPLE_RATE)
  for _ in range(_PROMPT_DRAWS):
    f = int(rng.integers(len(flat.names)))
    file = np.asarray(flat.file(f))
    start = int(rng.integers(0, max(len(file) - n, 0) + 1))
    excerpt = file[start:start + n]
    if excerpt.size and spectrum.level_dbfs(quantization.decode(
        excerpt, recipes.quantization_of(recipe))) > MIN_PROMPT_DBFS:
      return file, start, flat.names[f]
  raise ValueError(f"{_PROMPT_DRAWS} excerpts of {seconds:g} s drawn from the {split} "
                   f"split with seed {seed} were all quieter than {MIN_PROMPT_DBFS:g} "
                   f"dBFS; give --prompt FILE, or check that split's audio")


def load_prompt(path: str | None, model: AudioModel, *, dataset_dir: str | None = None,
                split: str | None = None, seconds: float = 1.0, seed: int = 0,
                recipe: str = "mu_law") -> tuple[np.ndarray, str]:
  """uint8 codes [P] of the prompt (at most `context` of them, made by the run's
  `recipe`) and a description."""
  if path and split:
    raise ValueError("give --prompt or --prompt_split, not both")
  if path:
    audio = audio_io.load_audio(path)  # AudioFileError names the file and reason
    codes, what = recipes.codes(recipes.to_pcm16(audio), recipe), path
  elif split:
    file, start, name = _split_excerpt(dataset_dir, split, recipe, seconds, seed)
    codes = file[start:start + int(seconds * SAMPLE_RATE)]
    what = f"{name} [{split}] at {start / SAMPLE_RATE:.1f} s"
  else:
    return np.zeros(0, np.uint8), "silence"
  if codes.size == 0:
    raise ValueError(f"the prompt {what} holds no audio")
  if model.left_context is not None and codes.size > model.left_context:
    print(f"note: the prompt is {codes.size} samples; the model reads its last "
          f"{model.left_context}")
  return codes, what


def real_continuation(dataset_dir: str, split: str, *, prompt_seconds: float,
                      seconds: float, seed: int = 0, recipe: str = "mu_law"
                      ) -> np.ndarray:
  """uint8 codes [<= seconds * 16 kHz]: what the recording does after the prompt
  `load_prompt` cuts from the split with the same arguments (shorter where the
  file ends): the yardstick a generated continuation is read against."""
  file, start, _ = _split_excerpt(dataset_dir, split, recipe, prompt_seconds, seed)
  end = start + int(prompt_seconds * SAMPLE_RATE)
  return file[end:end + int(seconds * SAMPLE_RATE)]


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


FLAGS = flags.FlagValues()
_WORKDIR = flags.DEFINE_string("workdir", None, "a training run's workdir",
                               flag_values=FLAGS, required=True)
_STEP = flags.DEFINE_integer("step", None, "checkpoint step to sample from (default: "
                             "the latest)", flag_values=FLAGS)
_SECONDS = flags.DEFINE_float("seconds", 2.0, "seconds to generate", flag_values=FLAGS)
_PROMPT = flags.DEFINE_string("prompt", None, "an audio file to continue",
                              flag_values=FLAGS)
_PROMPT_SPLIT = flags.DEFINE_string("prompt_split", None, "cut the prompt from this "
                                    "split of the run's data", flag_values=FLAGS)
_PROMPT_SECONDS = flags.DEFINE_float("prompt_seconds", 1.0, "with --prompt_split",
                                     flag_values=FLAGS)
_STREAMS = flags.DEFINE_integer("streams", 1, "parallel streams", flag_values=FLAGS)
_TEMPERATURE = flags.DEFINE_float("temperature", 1.0, "0: greedy", flag_values=FLAGS)
_TOP_P = flags.DEFINE_float("top_p", 1.0, "nucleus mass (1: off)", flag_values=FLAGS)
_SEED = flags.DEFINE_integer("seed", 0, "sampling and prompt seed", flag_values=FLAGS)
_BLOCK = flags.DEFINE_integer("block", 2000, "samples per jitted scan",
                              flag_values=FLAGS)
_OUT = flags.DEFINE_string("out", None, "output folder (default WORKDIR/samples)",
                           flag_values=FLAGS)


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.sample", __doc__)) is not None:
    return code
  try:
    if _SECONDS.value <= 0 or _STREAMS.value < 1:
      raise ValueError("--seconds must be > 0 and --streams >= 1")
    options = sampler.SamplingOptions(_TEMPERATURE.value, _TOP_P.value)
    config, params, step = load_params(_WORKDIR.value, _STEP.value)
    model = train_config.saved_model(config)
    dataset_dir = (train_config.saved_dataset_dir(config) if _PROMPT_SPLIT.value
                   else None)
    prompt, what = load_prompt(_PROMPT.value, model, dataset_dir=dataset_dir,
                               split=_PROMPT_SPLIT.value, seconds=_PROMPT_SECONDS.value,
                               seed=_SEED.value, recipe=train_config.saved_recipe(config))
    # Scored once, shown with every stream: what the recording itself does next.
    real = (real_continuation(
        dataset_dir, _PROMPT_SPLIT.value, prompt_seconds=_PROMPT_SECONDS.value,
        seconds=_SECONDS.value, seed=_SEED.value,
        recipe=train_config.saved_recipe(config)) if _PROMPT_SPLIT.value else None)
    real_scores = (yardstick(prompt, real, model.quantization) if real is not None
                   else None)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  total = int(_SECONDS.value * SAMPLE_RATE)
  prompt_b = np.repeat(prompt[None].astype(np.int32), _STREAMS.value, 0)
  print(f"step {step} model, prompt: {what} ({prompt.size / SAMPLE_RATE:.2f} s), "
        f"{_STREAMS.value} stream(s) x {_SECONDS.value:g} s")
  blocks, start = [], time.time()
  with tqdm.tqdm(total=total, unit="sample", unit_scale=True, file=sys.stdout,
                 disable=not cli.show_progress()) as bar:
    for codes in sampler.generate_blocks(
        model, params, jax.random.key(_SEED.value), num_samples=total,
        prompt_BxP=prompt_b, block=_BLOCK.value, options=options):
      blocks.append(codes)
      bar.update(codes.shape[1])
      rate = sum(b.shape[1] for b in blocks) * _STREAMS.value / (time.time() - start)
      bar.set_postfix(rtf=f"{rate / SAMPLE_RATE:.3f}")
  generated = np.concatenate(blocks, axis=1)
  elapsed = time.time() - start
  out = _OUT.value or os.path.join(_WORKDIR.value, "samples")
  os.makedirs(out, exist_ok=True)
  streams = [np.concatenate([prompt, g.astype(np.uint8)]) for g in generated]
  audios = [quantization.decode(codes, model.quantization) for codes in streams]
  reports = [compare(audio, prompt.size, real_scores) for audio in audios]
  # One teacher-forced pass for every stream (and the recording's continuation).
  spreads = spread_report(model, params, prompt, [c[prompt.size:] for c in streams],
                          options, real, reports[0].get("prompt", {}).get(
                              "median_flatness"))
  for s, (audio, report) in enumerate(zip(audios, reports)):
    stem = _free_stem(out, f"step{step}_seed{_SEED.value}_stream{s}")
    audio_io.write_wav(stem + ".wav", audio)
    waveform_and_spectrogram(stem + ".png", audio, prompt_samples=prompt.size,
                             title=f"{os.path.basename(stem)}: prompt {what}")
    if spreads[s] is not None:
      report["uncertainty"] = spreads[s]
    report.update(prompt_source=what, temperature=_TEMPERATURE.value, top_p=_TOP_P.value,
                  seed=_SEED.value, step=step)
    strict_json.write(stem + ".json", report)
    print(format_comparison(report))
    print(f"wrote {stem}.wav, .png and .json")
  print(f"{total * _STREAMS.value / elapsed:,.0f} samples/s, real-time factor "
        f"{total * _STREAMS.value / elapsed / SAMPLE_RATE:.3f}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
