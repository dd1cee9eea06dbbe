"""`continue_prompt`: a trained run continues a prompt; what `sample` runs.

Per stream it writes a 16 kHz WAV (prompt then continuation), a waveform and
spectrogram PNG with the prompt shaded, and a JSON comparing the continuation with the
prompt and with the recording's own continuation (`comparison.py`), with the model's
predictive spread along each; existing files are never overwritten (names get the
next free number).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

import jax
import numpy as np

from audiolm_jax import strict_json
from audiolm_jax.checkpoints.run import open_run
from audiolm_jax.data import audio_io, quantization
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.generation import sampler
from audiolm_jax.generation.comparison import compare, spread_report, yardstick
from audiolm_jax.generation.plots import waveform_and_spectrogram
from audiolm_jax.generation.prompts import load_prompt, real_continuation


@dataclasses.dataclass
class Continuation:
  stem: str        # the stream's files: stem + .wav, .png, .json
  report: dict     # what the JSON holds


def _free_stem(folder: str, stem: str) -> str:
  i = 0
  while any(os.path.exists(os.path.join(folder, f"{stem}_{i:03d}{ext}"))
            for ext in (".wav", ".png", ".json")):
    i += 1
  return os.path.join(folder, f"{stem}_{i:03d}")


def continue_prompt(workdir: str, *, seconds: float, step: int | None = None,
                    prompt: str | None = None, prompt_split: str | None = None,
                    prompt_seconds: float = 1.0, streams: int = 1,
                    options: sampler.SamplingOptions = sampler.SamplingOptions(),
                    seed: int = 0, block: int = 2000, out: str | None = None,
                    say: Callable[[str], None] = print,
                    progress: Callable[[int, float], None] | None = None
                    ) -> list[Continuation]:
  """Generates `streams` continuations of `seconds` after the prompt (a file, an
  excerpt of `prompt_split` of the run's data, or silence) and writes them to `out`
  (default WORKDIR/samples). `progress(samples, real-time factor)` after each block.
  """
  if seconds <= 0 or streams < 1:
    raise ValueError("--seconds must be > 0 and --streams >= 1")
  run = open_run(workdir, step)
  model, params, step, recipe = run.model, run.params, run.step, run.recipe
  dataset_dir = run.dataset_dir if prompt_split else None
  codes, what = load_prompt(prompt, model, dataset_dir=dataset_dir,
                            split=prompt_split, seconds=prompt_seconds, seed=seed,
                            recipe=recipe)
  # Scored once, shown with every stream: what the recording itself does next.
  real = (real_continuation(dataset_dir, prompt_split, prompt_seconds=prompt_seconds,
                            seconds=seconds, seed=seed, recipe=recipe)
          if prompt_split else None)
  real_scores = yardstick(codes, real, model.quantization) if real is not None else None
  total = int(seconds * SAMPLE_RATE)
  say(f"step {step} model, prompt: {what} ({codes.size / SAMPLE_RATE:.2f} s), "
      f"{streams} stream(s) x {seconds:g} s")
  blocks, start = [], time.time()
  for block_codes in sampler.generate_blocks(
      model, params, jax.random.key(seed), num_samples=total,
      prompt_BxP=np.repeat(codes[None].astype(np.int32), streams, 0), block=block,
      options=options):
    blocks.append(block_codes)
    if progress:
      done = sum(b.shape[1] for b in blocks)
      progress(block_codes.shape[1], done * streams / (time.time() - start)
               / SAMPLE_RATE)
  generated = np.concatenate(blocks, axis=1)
  elapsed = time.time() - start
  out = out or os.path.join(workdir, "samples")
  os.makedirs(out, exist_ok=True)
  joined = [np.concatenate([codes, g.astype(np.uint8)]) for g in generated]
  audios = [quantization.decode(c, model.quantization) for c in joined]
  reports = [compare(audio, codes.size, real_scores) for audio in audios]
  # One teacher-forced pass for every stream (and the recording's continuation).
  spreads = spread_report(model, params, codes, [c[codes.size:] for c in joined],
                          options, real, reports[0].get("prompt", {}).get(
                              "median_flatness"))
  results = []
  for s, (audio, report) in enumerate(zip(audios, reports)):
    stem = _free_stem(out, f"step{step}_seed{seed}_stream{s}")
    audio_io.write_wav(stem + ".wav", audio)
    waveform_and_spectrogram(stem + ".png", audio, prompt_samples=codes.size,
                             title=f"{os.path.basename(stem)}: prompt {what}")
    if spreads[s] is not None:
      report["uncertainty"] = spreads[s]
    report.update(prompt_source=what, temperature=options.temperature,
                  top_p=options.top_p, seed=seed, step=step)
    strict_json.write(stem + ".json", report)
    results.append(Continuation(stem, report))
  say(f"{total * streams / elapsed:,.0f} samples/s, real-time factor "
      f"{total * streams / elapsed / SAMPLE_RATE:.3f}")
  return results
