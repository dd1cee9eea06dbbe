"""Regenerates the docs' generated tables from committed results.

    python -m audiolm_jax.tables --results FILE --doc DOC
    python -m audiolm_jax.tables --readme README.md

--results names a committed results file; its kind decides the section of DOC that
is rewritten: a benchmark suites' file (`benchmarks/results_cpu.json`, the lines
between `<!-- performance:begin -->` and `<!-- performance:end -->`), the aot
sweep's rows (`benchmarks/aot_tpu.json`, between the `aot` markers), or a study's
results.json (between `<!-- study:NAME:begin -->` and `<!-- study:NAME:end -->`).
--readme rewrites the README's expected results from every file they come from.
Without --doc or --readme, prints the section. Tests fail when a committed document
drifts from its results, naming this command.
"""

from __future__ import annotations

import json
import sys

from absl import flags

from audiolm_jax import cli
from audiolm_jax.bench import aot, expected
from audiolm_jax.bench import report as bench_report
from audiolm_jax.study import report as study_report

FLAGS = flags.FlagValues()
_RESULTS = flags.DEFINE_string("results", "", "a results JSON file (benchmark suites, "
                               "the aot sweep, or a study's results.json)",
                               flag_values=FLAGS)
_DOC = flags.DEFINE_string("doc", "", "with --results: the markdown file whose section "
                           "to rewrite", flag_values=FLAGS)
_README = flags.DEFINE_string("readme", "", "a README whose expected-results table "
                              "to rewrite", flag_values=FLAGS)


def _section(results: dict, results_path: str, doc: str) -> tuple[str, str, str]:
  """(section, begin marker, end marker) for a results file of any kind."""
  if "rows" in results:  # the aot sweep
    return aot.markdown(results), aot.BEGIN, aot.END
  if "study" in results:  # a study's results.json
    begin, end = study_report.markers(results["study"])
    return (study_report.doc_section(results, results_path, doc or "docs/studies.md"),
            begin, end)
  return bench_report.markdown(results), bench_report.BEGIN, bench_report.END


def _rewrite(path: str, section: str, begin: str, end: str) -> None:
  with open(path, encoding="utf-8") as f:
    text = bench_report.replace_section(f.read(), section, begin, end)
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.tables", __doc__)) is not None:
    return code
  if bool(_RESULTS.value) == bool(_README.value):
    print("error: pass --results FILE [--doc DOC], or --readme README.md "
          "(see python -m audiolm_jax.tables --help)", file=sys.stderr)
    return cli.EXIT_USAGE
  try:
    if _README.value:
      section, begin, end = expected.table(), expected.BEGIN, expected.END
      target = _README.value
    else:
      with open(_RESULTS.value, encoding="utf-8") as f:
        results = json.load(f)
      section, begin, end = _section(results, _RESULTS.value, _DOC.value)
      target = _DOC.value
    if target:
      _rewrite(target, section, begin, end)
  except (OSError, ValueError, KeyError) as e:
    print(f"error: {e}", file=sys.stderr)
    return cli.EXIT_USAGE
  print(section)
  if target:
    print(f"rewrote {target}'s section {begin}")
  return cli.EXIT_OK


if __name__ == "__main__":
  sys.exit(main())
