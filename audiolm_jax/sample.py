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

import sys

from absl import flags

from audiolm_jax import cli
from audiolm_jax.progress import bar as progress_bar
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.generation import sampler
from audiolm_jax.generation.comparison import format_comparison
from audiolm_jax.generation.continuation import continue_prompt


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
  with progress_bar(int(max(_SECONDS.value, 0) * SAMPLE_RATE), unit="sample",
                    unit_scale=True) as bar:

    def progress(samples: int, rtf: float) -> None:
      bar.update(samples)
      bar.set_postfix(rtf=f"{rtf:.3f}")

    try:
      results = continue_prompt(
          _WORKDIR.value, seconds=_SECONDS.value, step=_STEP.value,
          prompt=_PROMPT.value, prompt_split=_PROMPT_SPLIT.value,
          prompt_seconds=_PROMPT_SECONDS.value, streams=_STREAMS.value,
          options=sampler.SamplingOptions(_TEMPERATURE.value, _TOP_P.value),
          seed=_SEED.value, block=_BLOCK.value, out=_OUT.value,
          say=bar.write, progress=progress)
    except (FileNotFoundError, ValueError) as e:
      print(f"error: {e}", file=sys.stderr)
      return cli.EXIT_USAGE
  for r in results:
    print(format_comparison(r.report))
    print(f"wrote {r.stem}.wav, .png and .json")
  return 0


if __name__ == "__main__":
  sys.exit(main())
