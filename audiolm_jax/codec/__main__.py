"""Codec: `python -m audiolm_jax.codec encode|decode --workdir RUN IN OUT`.

  encode: IN, an audio file or a folder of them (resampled to 16 kHz mono, then the
          run's recipe to 8-bit codes: the one lossy step, whose SNR is printed),
          to OUT, a .alc file (or a folder of them).
  decode: IN, a .alc file or a folder of them, to OUT, a 16 kHz WAV of the decoded
          codes (or a folder of them). decode(encode(x)) gives exactly x's codes.

The run's model (its latest checkpoint, or --step) gives every code's probability;
decoding needs the same run and step, on a machine that computes them alike.
"""

from __future__ import annotations

import sys

from absl import flags

from audiolm_jax import cli
from audiolm_jax.codec import files
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


def _encode(model, params, recipe, source, target) -> int:
  results, skipped = files.encode_path(model, params, recipe, source, target,
                                       segments=_SEGMENTS.value)
  for name, reason in sorted(skipped.items()):
    print(f"skipped {name}: {reason}")
  for r in results:
    snr = "n/a (the recipe rescales)" if r.snr_db is None else f"{r.snr_db:.1f} dB"
    print(f"{r.name}: {r.num_samples:,} samples ({r.num_samples / SAMPLE_RATE:.2f} s), "
          f"8-bit codes SNR {snr}; {r.num_samples:,} code bytes -> "
          f"{r.coded_bytes:,} bytes ({r.bits_per_sample:.3f} bits/sample), "
          f"{r.num_samples / max(r.seconds, 1e-9):,.0f} samples/s -> {r.output}")
  if len(results) > 1:
    samples = sum(r.num_samples for r in results)
    coded = sum(r.coded_bytes for r in results)
    print(f"total: {len(results)} files, {samples:,} code bytes -> {coded:,} bytes "
          f"({8 * coded / max(samples, 1):.3f} bits/sample)")
  if not results:
    print("error: nothing was encoded", file=sys.stderr)
    return 2
  return 0


def _decode(model, params, source, target) -> int:
  results, failed = files.decode_path(model, params, source, target)
  for r in results:
    print(f"{r.name}: {r.num_samples:,} samples, "
          f"{r.num_samples / max(r.seconds, 1e-9):,.0f} samples/s -> {r.output}")
  for name, reason in sorted(failed.items()):
    print(f"error: {reason}", file=sys.stderr)
  return 2 if failed or not results else 0


def main(argv=None) -> int:
  code, args = cli.parse_with_arguments(FLAGS, argv, "audiolm_jax.codec", __doc__,
                                        ("encode|decode", "IN", "OUT"))
  if code is not None:
    return code
  command, source, target = args
  if command not in ("encode", "decode"):
    print(f"error: unknown command {command!r}; use encode or decode",
          file=sys.stderr)
    return 2
  try:
    if _SEGMENTS.value < 1:
      raise ValueError(f"--segments={_SEGMENTS.value} must be >= 1")
    run = open_run(_WORKDIR.value, _STEP.value)
    if command == "encode":
      return _encode(run.model, run.params, run.recipe, source, target)
    return _decode(run.model, run.params, source, target)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
