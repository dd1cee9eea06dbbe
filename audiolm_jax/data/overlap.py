"""Does the test set leak? `python -m audiolm_jax.data.overlap --dataset_dir DIR`.

For every validation and test file of a built dataset, how many of its seconds also
occur in the training split, exactly or nearly (the same audio requantized, at
another level, or cut at another sample offset), and the total; how a second is
found: `data/fingerprints.py`. YouTubeMix needs this: its source video repeats about
45 minutes of music roughly six times (samplernn-pytorch issue #47), so its test
files also occur among its training files.
"""

from __future__ import annotations

import sys

from absl import flags

from audiolm_jax import cli, strict_json
from audiolm_jax.data import fingerprints


def format_report(r: dict) -> str:
  lines = [f"overlap with the training split of {r['dataset']} (1-s blocks whose "
           f"fingerprint differs from a training second in < "
           f"{r['max_bit_error']:.0%} of bits)"]
  for split, s in r["splits"].items():
    lines.append(f"{split}: {s['overlap_seconds']:,} of {s['seconds']:,.0f} s "
                 f"({s['overlap_fraction']:.1%}) also in train")
    for name, f in s["files"].items():
      where = ", ".join(f"{k} ({v} s)" for k, v in list(f["sources"].items())[:3])
      lines.append(f"  {name}: {f['overlap_seconds']} of {f['seconds']:.0f} s"
                   + (f" <- {where}" if where else ""))
  return "\n".join(lines)


FLAGS = flags.FlagValues()
_DATASET_DIR = flags.DEFINE_string("dataset_dir", None, "a built dataset directory",
                                   flag_values=FLAGS, required=True)
_MAX_BER = flags.DEFINE_float("max_bit_error", 0.2, "a second counts as found when "
                              "its best training alignment differs in fewer bits "
                              "(unrelated audio: about 0.5)", flag_values=FLAGS)
_OUT = flags.DEFINE_string("out", None, "also write the report as JSON here",
                           flag_values=FLAGS)


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.data.overlap", __doc__)) is not None:
    return code
  try:
    result = fingerprints.report(_DATASET_DIR.value, max_bit_error=_MAX_BER.value)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return cli.EXIT_USAGE
  if _OUT.value:  # first: a closed stdout must not lose the report
    strict_json.write(_OUT.value, result)
  print(format_report(result))
  if _OUT.value:
    print(f"written to {_OUT.value}")
  return cli.EXIT_OK


if __name__ == "__main__":
  sys.exit(main())
