"""Sample: `python -m audiolm_jax.sample --workdir DIR [--prompt file.wav] --seconds S`.

Continues a prompt (any WAV/FLAC/OGG, any rate and channels: converted to 16 kHz
mono; longer than the context: its end is used) or a prompt cut from the run's test
split (`--prompt_split test`), or silence. Writes, per stream, a 16 kHz WAV (prompt
then continuation) and a waveform + spectrogram PNG with the prompt shaded, into
WORKDIR/samples (or --out). Existing files are never overwritten: names get the
next free number.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np
import tqdm

from audiolm_jax import config_lib, generation, quantization
from audiolm_jax.checkpointing import load_params
from audiolm_jax.data import audio_io, pipeline
from audiolm_jax.model import AudioLM
from audiolm_jax.model_config import ModelConfig
from audiolm_jax.plots import waveform_and_spectrogram

SAMPLE_RATE = 16_000


def _free_stem(folder: str, stem: str) -> str:
  i = 0
  while any(os.path.exists(os.path.join(folder, f"{stem}_{i:03d}{ext}"))
            for ext in (".wav", ".png")):
    i += 1
  return os.path.join(folder, f"{stem}_{i:03d}")


def load_prompt(path: str | None, cfg: ModelConfig, *, dataset_dir: str | None = None,
                split: str | None = None, seconds: float = 1.0, seed: int = 0
                ) -> tuple[np.ndarray, str]:
  """uint8 codes [P] of the prompt (at most `context` of them) and a description."""
  if path and split:
    raise ValueError("give --prompt or --prompt_split, not both")
  if path:
    audio = audio_io.load_audio(path)  # AudioFileError names the file and reason
    codes, what = quantization.encode(audio, cfg.quantization), path
  elif split:
    flat = pipeline.FlatSplit(dataset_dir, split)
    n = int(seconds * SAMPLE_RATE)
    rng = np.random.default_rng(seed)
    f = int(rng.integers(len(flat.names)))
    file = np.asarray(flat.file(f))
    start = int(rng.integers(0, max(len(file) - n, 0) + 1))
    codes, what = file[start:start + n], f"{flat.names[f]} [{split}] at " \
                                         f"{start / SAMPLE_RATE:.1f} s"
  else:
    return np.zeros(0, np.uint8), "silence"
  if codes.size == 0:
    raise ValueError(f"the prompt {what} holds no audio")
  if codes.size > cfg.context:
    print(f"note: the prompt is {codes.size} samples; the model reads its last "
          f"{cfg.context}")
  return codes, what


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description="Generate audio from a trained run.")
  p.add_argument("--workdir", required=True)
  p.add_argument("--seconds", type=float, default=2.0, help="seconds to generate")
  p.add_argument("--prompt", help="an audio file to continue")
  p.add_argument("--prompt_split", help="cut the prompt from this split of the data")
  p.add_argument("--prompt_seconds", type=float, default=1.0)
  p.add_argument("--streams", type=int, default=1, help="parallel streams")
  p.add_argument("--temperature", type=float, default=1.0)
  p.add_argument("--top_p", type=float, default=1.0)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--block", type=int, default=2000, help="samples per jitted scan")
  p.add_argument("--out", help="output folder (default WORKDIR/samples)")
  args = p.parse_args(argv)
  try:
    if args.seconds <= 0 or args.streams < 1:
      raise ValueError("--seconds must be > 0 and --streams >= 1")
    options = generation.SamplingOptions(args.temperature, args.top_p)
    config, params, step = load_params(args.workdir)
    cfg = config_lib.saved_model_config(config)
    dataset_dir = (config_lib.saved_dataset_dir(config) if args.prompt_split
                   else None)
    prompt, what = load_prompt(args.prompt, cfg, dataset_dir=dataset_dir,
                               split=args.prompt_split, seconds=args.prompt_seconds,
                               seed=args.seed)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  model = AudioLM(cfg)
  total = int(args.seconds * SAMPLE_RATE)
  prompt_b = np.repeat(prompt[None, -cfg.context:].astype(np.int32), args.streams, 0)
  print(f"step {step} model, prompt: {what} ({prompt.size / SAMPLE_RATE:.2f} s), "
        f"{args.streams} stream(s) x {args.seconds:g} s")
  blocks, start = [], time.time()
  with tqdm.tqdm(total=total, unit="sample", unit_scale=True, file=sys.stdout) as bar:
    for codes in generation.generate_blocks(
        model, params, jax.random.key(args.seed), num_samples=total,
        prompt_BxP=prompt_b, block=args.block, options=options):
      blocks.append(codes)
      bar.update(codes.shape[1])
      rate = sum(b.shape[1] for b in blocks) * args.streams / (time.time() - start)
      bar.set_postfix(rtf=f"{rate / SAMPLE_RATE:.3f}")
  generated = np.concatenate(blocks, axis=1)
  elapsed = time.time() - start
  out = args.out or os.path.join(args.workdir, "samples")
  os.makedirs(out, exist_ok=True)
  for s in range(args.streams):
    codes = np.concatenate([prompt, generated[s].astype(np.uint8)])
    audio = quantization.decode(codes, cfg.quantization)
    stem = _free_stem(out, f"step{step}_seed{args.seed}_stream{s}")
    audio_io.write_wav(stem + ".wav", audio)
    waveform_and_spectrogram(stem + ".png", audio, prompt_samples=prompt.size,
                             title=f"{os.path.basename(stem)}: prompt {what}")
    print(f"wrote {stem}.wav and {stem}.png")
  print(f"{total * args.streams / elapsed:,.0f} samples/s, real-time factor "
        f"{total * args.streams / elapsed / SAMPLE_RATE:.3f}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
