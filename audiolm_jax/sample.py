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
from audiolm_jax.data import audio_io, quantization
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.generation import sampler
from audiolm_jax.generation.comparison import (compare, format_comparison,
                                               spread_report, yardstick)
from audiolm_jax.generation.plots import waveform_and_spectrogram
from audiolm_jax.generation.prompts import load_prompt, real_continuation
from audiolm_jax.training import config as train_config
from audiolm_jax.training.checkpointing import load_params


def _free_stem(folder: str, stem: str) -> str:
  i = 0
  while any(os.path.exists(os.path.join(folder, f"{stem}_{i:03d}{ext}"))
            for ext in (".wav", ".png", ".json")):
    i += 1
  return os.path.join(folder, f"{stem}_{i:03d}")


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
