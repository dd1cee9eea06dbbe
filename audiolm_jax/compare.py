"""Compare: `python -m audiolm_jax.compare --a A.json --b B.json`.

A minus B in bits per sample, paired over the files both `evaluate` results scored,
with its 95 % interval and the number of files on which A is lower: whether one
model beats another (or a reference predictor) on the same samples. Either side may
be a reference predictor of its result instead of the model:

  python -m audiolm_jax.compare --a runs/x/eval_test_full.json \
      --b runs/y/eval_test_full.json                     # model x vs model y
  python -m audiolm_jax.compare --a runs/x/eval_test_full.json \
      --b_predictor linear_prediction                    # x vs linear prediction
"""

from __future__ import annotations

import json
import sys

from absl import flags

from audiolm_jax import cli, strict_json
from audiolm_jax.evaluation import paired

FLAGS = flags.FlagValues()
_PREDICTORS = (paired.MODEL,) + paired.REFERENCES
_A = flags.DEFINE_string("a", None, "an evaluate result (eval_SPLIT_PROTOCOL.json)",
                         flag_values=FLAGS, required=True)
_B = flags.DEFINE_string("b", None, "another result on the same samples (default: "
                         "--a, to compare its model with a reference)",
                         flag_values=FLAGS)
_A_PREDICTOR = flags.DEFINE_enum("a_predictor", paired.MODEL, _PREDICTORS,
                                 "A's predictor", flag_values=FLAGS)
_B_PREDICTOR = flags.DEFINE_enum("b_predictor", paired.MODEL, _PREDICTORS,
                                 "B's predictor", flag_values=FLAGS)
_OUT = flags.DEFINE_string("out", None, "also write the comparison here (JSON)",
                           flag_values=FLAGS)


def _load(path: str) -> dict:
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError as e:
    raise ValueError(f"{path} does not exist; pass a result python -m "
                     f"audiolm_jax.evaluate wrote (WORKDIR/eval_SPLIT_PROTOCOL.json)"
                     ) from e
  except json.JSONDecodeError as e:
    raise ValueError(f"{path} is not a JSON result file ({e})") from e


def _label(path: str, result: dict, predictor: str) -> str:
  if predictor == paired.MODEL:
    return f"{result.get('workdir', path)} (step {result.get('step')})"
  return f"{predictor} (in {path})"


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.compare", __doc__)) is not None:
    return code
  b_path = _B.value or _A.value
  if b_path == _A.value and _A_PREDICTOR.value == _B_PREDICTOR.value:
    print(f"error: A and B are the same predictor of the same result; pass --b "
          f"another result, or --b_predictor one of {paired.REFERENCES}",
          file=sys.stderr)
    return cli.EXIT_USAGE
  try:
    a, b = _load(_A.value), _load(b_path)
    r = paired.paired(a, b, _A_PREDICTOR.value, _B_PREDICTOR.value)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return cli.EXIT_USAGE
  r = {"a": _label(_A.value, a, _A_PREDICTOR.value),
       "b": _label(b_path, b, _B_PREDICTOR.value),
       "protocol": a.get("protocol"), "split": a.get("split"), **r}
  print(f"A: {r['a']}: {r['a_bits']:.3f} bits/sample\n"
        f"B: {r['b']}: {r['b_bits']:.3f} bits/sample\n"
        f"A - B, paired over {r['files']} files ({r['samples']:,} samples, "
        f"{r['protocol']} protocol, {r['split']} split): "
        f"{r['difference_bits']:+.3f} ± {r['ci95_bits']:.3f} bits/sample (95 %); "
        f"A lower on {r['a_lower_files']} of {r['files']} files")
  if _OUT.value:
    strict_json.write(_OUT.value, r)
  return 0


if __name__ == "__main__":
  sys.exit(main())
