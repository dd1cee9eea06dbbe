"""One way to parse command lines: absl flags, as big_vision and the flax examples do.

absl is already required by `train.py` (ml_collections' `config_flags` give the
`--config file.py:arg --config.a.b=v` overrides), so every CLI uses it. Each CLI
keeps its flags in its own `FlagValues` (not the global `FLAGS`), so several CLIs can
be imported and called in one process (the tests do) without their flags colliding,
and `main(argv)` can be called again with other arguments.
"""

from __future__ import annotations

import sys
from typing import Sequence

from absl import flags

# Every command's exit status (`main` returns it):
EXIT_OK = 0
EXIT_FAILED = 1        # the job ran and failed: a non-finite loss, a workdir another
                       # run holds, a disk that filled; what was saved is kept
EXIT_USAGE = 2         # nothing was done: fix the command or its inputs (flags, a
                       # config, a missing or unreadable file, a missing extra)
EXIT_DOES_NOT_FIT = 3  # train --topology: the step does not fit the slice's memory
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


def parse_args(flag_values: flags.FlagValues, program: str,
               args: Sequence[str]) -> list[str]:
  """`flag_values([program, *args])` from a clean state; returns the unparsed rest.

  ml_collections' config flags find their `--config.x=...` overrides in sys.argv, not
  in the arguments given, so sys.argv holds these arguments while they are parsed (a
  command called as a function, with argv, keeps its overrides).
  """
  flag_values.unparse_flags()
  for name in [n for n in flag_values if "." in n]:
    delattr(flag_values, name)  # a config's overrides: the next parse defines them anew
  saved, sys.argv = sys.argv, [program, *args]
  try:
    return flag_values([program, *args])
  finally:
    sys.argv = saved


def _one_message(error: Exception, args: Sequence[str] = ()) -> str:
  """A flag error's message; for a config file that raised, ml_collections embeds the
  whole traceback: keep its first line and the exception's own line."""
  text = str(error)
  if isinstance(error, (KeyError, AttributeError)):  # a --config.FIELD override
    overrides = [a.split("=")[0] for a in args if a.startswith("--config.")]
    return (f"{text.strip(chr(34))} is not a field of the config, in one of "
            f"{overrides}: check them against the config file")
  if "Traceback (most recent call last)" not in text:
    return text
  lines = [line for line in text.splitlines() if line.strip()]
  return f"{lines[0]} {lines[-1]}"


def parse(flag_values: flags.FlagValues, argv: Sequence[str] | None,
          program: str, doc: str) -> int | None:
  """Parses argv (without the program name; None: sys.argv) into `flag_values`.

  Returns None to go on, 0 after printing help (--help), or 2 after printing a usage
  error to stderr.
  """
  args = list(sys.argv[1:] if argv is None else argv)
  if any(a in ("-h", "--help", "-help", "--helpfull") for a in args):
    print(doc.strip())
    print(flag_values.get_help())
    return 0
  try:
    unparsed = parse_args(flag_values, program, args)
  except (flags.Error, KeyError, AttributeError) as e:
    print(f"error: {_one_message(e, args)}\n(see python -m {program} --help)",
          file=sys.stderr)
    return EXIT_USAGE
  if len(unparsed) > 1:
    print(f"error: unexpected arguments {unparsed[1:]}", file=sys.stderr)
    return EXIT_USAGE
  return None


def parse_with_arguments(flag_values: flags.FlagValues, argv: Sequence[str] | None,
                         program: str, doc: str, names: Sequence[str]
                         ) -> tuple[int | None, list[str]]:
  """As `parse`, for a command that also takes positional arguments `names` (flags
  and positionals in any order). Returns (None, the positionals) to go on, or
  (exit code, []) after help or a usage error."""
  args = list(sys.argv[1:] if argv is None else argv)
  if any(a in ("-h", "--help", "-help", "--helpfull") for a in args):
    print(doc.strip())
    print(flag_values.get_help())
    return 0, []
  try:
    positional = parse_args(flag_values, program, args)[1:]
  except (flags.Error, KeyError, AttributeError) as e:
    print(f"error: {_one_message(e, args)}\n(see python -m {program} --help)",
          file=sys.stderr)
    return EXIT_USAGE, []
  if len(positional) != len(names):
    print(f"error: expected {len(names)} arguments ({' '.join(names)}), got "
          f"{positional}\n(see python -m {program} --help)", file=sys.stderr)
    return EXIT_USAGE, []
  return None, positional


