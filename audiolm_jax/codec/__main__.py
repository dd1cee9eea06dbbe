"""Codec: `python -m audiolm_jax.codec encode|decode --workdir RUN IN OUT`.

  encode: IN, an audio file or a folder of them, to OUT, a .alc file (or a folder
          of them). --mode=pcm16 (the default): 16-bit PCM files at 16 kHz, stored
          exactly, every channel; other files are refused with the reason.
          --mode=codes: any audio, resampled to 16 kHz mono, then the run's recipe
          to 8-bit codes (the one lossy step, whose SNR is printed), stored exactly.
  decode: IN, a .alc file or a folder of them, to OUT, a 16 kHz WAV (or a folder
          of them): the input's exact samples (pcm16), or its codes at their bins'
          centres (codes). The mode is read from the file.

--predictor=mix (the default) codes each 8-bit code with the online mix of the
run's model (its latest checkpoint, or --step) and linear prediction; `model` or
`linear` use one alone. Decoding needs the same run and step, on a machine that
computes the probabilities alike.
"""

from __future__ import annotations

import sys

from absl import flags

from audiolm_jax import cli
from audiolm_jax.codec import bins, files
from audiolm_jax.codec.mixing import PREDICTORS, Mixing
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.checkpoints.run import open_run

FLAGS = flags.FlagValues()
_WORKDIR = flags.DEFINE_string("workdir", None, "a training run's workdir",
                               flag_values=FLAGS, required=True)
_STEP = flags.DEFINE_integer("step", None, "checkpoint step (default: the latest)",
                             flag_values=FLAGS)
_SEGMENTS = flags.DEFINE_integer(
    "segments", 16, "encode: independent streams per file, decoded side by side "
    "(more: faster decoding, slightly larger files)", flag_values=FLAGS)
_MODE = flags.DEFINE_enum(
    "mode", "pcm16", bins.MODES, "encode: pcm16 stores 16-bit PCM at 16 kHz exactly; "
    "codes stores the run's 8-bit codes of any audio exactly", flag_values=FLAGS)
_PREDICTOR = flags.DEFINE_enum(
    "predictor", "mix", PREDICTORS, "encode: what predicts each code: the online mix "
    "of the model and linear prediction, or one alone", flag_values=FLAGS)


def _encode(model, params, recipe, source, target) -> int:
  mode = _MODE.value
  results, skipped = files.encode_path(
      model, params, recipe, source, target, segments=_SEGMENTS.value, mode=mode,
      mixing=Mixing(predictor=_PREDICTOR.value))
  for name, reason in sorted(skipped.items()):
    print(f"skipped {name}: {reason}")
  raw = 2 if mode == "pcm16" else 1
  for r in results:
    samples = r.num_samples * r.channels
    if mode == "pcm16":
      what = f"16-bit PCM, {r.channels} channel{'s' * (r.channels > 1)}, exact"
    else:
      snr = "n/a (the recipe rescales)" if r.snr_db is None else f"{r.snr_db:.1f} dB"
      what = f"8-bit codes, SNR {snr}"
    print(f"{r.name}: {r.num_samples:,} samples ({r.num_samples / SAMPLE_RATE:.2f} s), "
          f"{what}; {raw * samples:,} bytes -> {r.coded_bytes:,} bytes "
          f"({r.bits_per_sample:.3f} bits/sample), "
          f"{samples / max(r.seconds, 1e-9):,.0f} samples/s -> {r.output}")
  if len(results) > 1:
    samples = sum(r.num_samples * r.channels for r in results)
    coded = sum(r.coded_bytes for r in results)
    print(f"total: {len(results)} files, {raw * samples:,} bytes -> {coded:,} bytes "
          f"({8 * coded / max(samples, 1):.3f} bits/sample)")
  if not results:
    print("error: nothing was encoded", file=sys.stderr)
    return cli.EXIT_USAGE
  return 0


def _decode(model, params, source, target) -> int:
  results, failed = files.decode_path(model, params, source, target)
  for r in results:
    print(f"{r.name}: {r.num_samples:,} samples, "
          f"{r.num_samples / max(r.seconds, 1e-9):,.0f} samples/s -> {r.output}")
  for name, reason in sorted(failed.items()):
    print(f"error: {reason}", file=sys.stderr)
  return cli.EXIT_USAGE if failed or not results else 0


def main(argv=None) -> int:
  code, args = cli.parse_with_arguments(FLAGS, argv, "audiolm_jax.codec", __doc__,
                                        ("encode|decode", "IN", "OUT"))
  if code is not None:
    return code
  command, source, target = args
  if command not in ("encode", "decode"):
    print(f"error: unknown command {command!r}; use encode or decode",
          file=sys.stderr)
    return cli.EXIT_USAGE
  try:
    if _SEGMENTS.value < 1:
      raise ValueError(f"--segments={_SEGMENTS.value} must be >= 1")
    run = open_run(_WORKDIR.value, _STEP.value)
    if command == "encode":
      return _encode(run.model, run.params, run.recipe, source, target)
    return _decode(run.model, run.params, source, target)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return cli.EXIT_USAGE


if __name__ == "__main__":
  sys.exit(main())
