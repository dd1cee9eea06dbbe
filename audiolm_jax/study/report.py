"""A study's report: results.json, results.md (the tables) and three plots.

    python -m audiolm_jax.study.report --results DIR/results.json --readme README.md

rewrites the README's study section (between `<!-- study:begin -->` and
`<!-- study:end -->`) from a committed results.json, copying nothing by hand.
"""

from __future__ import annotations

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position

from audiolm_jax import cli, strict_json  # pylint: disable=wrong-import-position

BEGIN, END = "<!-- study:begin -->", "<!-- study:end -->"


def collect(study_name: str, command: str, trained: list[dict], scores: list[dict],
            truncated: dict | None, missing: list[str] | None = None) -> dict:
  """The report's data; `missing` names the study's runs not trained yet."""
  runs = []
  for t, s in zip(trained, scores):
    runs.append({k: v for k, v in t.items() if k != "config"} | {
        "eval": {p: {k: r.get(k) for k in ("nll_bits", "ci95_bits", "samples", "units",
                                           "references", "interval", "short_past",
                                           "max_seconds_per_file", "split")}
                 for p, r in s.items()}})
  return {"study": study_name, "command": command, "runs": runs,
          "truncated": truncated, "missing": list(missing or [])}


def _fmt(v, ci=None, signed: bool = False) -> str:
  if v is None:
    return "-"
  return (f"{v:+.3f}" if signed else f"{v:.3f}") + (
      f" ± {ci:.3f}" if ci is not None and ci == ci else "")


def markdown(results: dict, image_prefix: str = "") -> str:
  runs = results["runs"]
  protocols = list(runs[0]["eval"]) if runs else []
  first = runs[0]["eval"][protocols[0]] if protocols else {}
  caps = "; ".join(f"`{p}` on the first {runs[0]['eval'][p]['max_seconds_per_file']:g}"
                   f" s of each file" for p in protocols
                   if runs[0]["eval"][p].get("max_seconds_per_file"))
  # Results written before the linear-prediction reference existed lack it.
  linear = protocols and any("linear_prediction" in r["eval"][protocols[0]]["references"]
                             for r in runs)
  lines = []
  if results.get("missing"):
    lines += [f"**Interim report**: not trained yet, so not in these tables: "
              f"{', '.join(results['missing'])}.", ""]
  lines += [f"Reproduce with `{results['command']}`. Every run trained on "
           f"{runs[0]['targets']:,} targets (recipe `{runs[0]['recipe']}`); NLL in "
           f"bits per sample on the {first.get('split', 'test')} split"
           + (f" ({caps})" if caps else "")
           + ", with 95 % intervals; references (on the first protocol's samples): "
           + ("backward-adaptive linear prediction (order 32), " if linear else "")
           + "the previous-sample Laplace and the training histogram.", ""]
  head = ("| run | model | context | params | "
          + " | ".join(f"`{p}` NLL" for p in protocols)
          + (" | linear prediction" if linear else "")
          + " | previous sample | histogram | train s |")
  lines += [head, "|" + "---|" * (head.count("|") - 1)]
  for r in runs:
    ev = r["eval"]
    refs = ev[protocols[0]]["references"] if protocols else {}
    ctx = (f"{r['x']} tokens" if r["group"] == "context"
           else "unbounded" if r.get("context_samples") is None
           else f"{r['context_samples']:,} samples")
    lines.append(f"| {r['name']} | {r['model']} | {ctx} | {r['params']:,} | "
                 + " | ".join(_fmt(ev[p]["nll_bits"], ev[p]["ci95_bits"])
                              for p in protocols)
                 + (f" | {_fmt(refs.get('linear_prediction'))}" if linear else "")
                 + f" | {_fmt(refs.get('previous_sample'))} | "
                   f"{_fmt(refs.get('marginal'))} | {r['train_seconds']:.0f} |")
  short = [r for r in runs if (r["eval"].get("full") or {}).get("short_past")]
  if short:
    horizon = short[0]["eval"]["full"]["short_past"]["samples"]
    lines += ["", f"Positions whose true past is shorter than {horizon:,} samples "
              f"(the start of each file) against the rest, `full` protocol:", "",
              "| run | first samples | the rest |", "|---|---|---|"]
    for r in short:
      sp = r["eval"]["full"]["short_past"]
      lines.append(f"| {r['name']} | "
                   + " | ".join(_fmt(sp[k]["nll_bits"], sp[k]["ci95_bits"])
                                if sp.get(k) else "-" for k in ("short", "rest"))
                   + " |")
  tr = results.get("truncated")
  if tr:
    longest = max(map(int, tr["tokens"]))
    lines += ["", f"Context at inference: `{tr['run']}` given only its last n tokens "
              f"({tr['chunk_size']} samples each; older ones silence), the same "
              f"{next(iter(tr['tokens'].values()))['positions']:,} positions:", "",
              f"| tokens seen | NLL | minus NLL at {longest} tokens (paired) |",
              "|---|---|---|"]
    for n, v in sorted(tr["tokens"].items(), key=lambda kv: int(kv[0])):
      paired = (_fmt(v["minus_longest_bits"], v["minus_longest_ci95_bits"], signed=True)
                if "minus_longest_bits" in v else "-")  # older results lack it
      lines.append(f"| {n} | {_fmt(v['nll_bits'], v['ci95_bits'])} | {paired} |")
  lines += ["", f"![NLL against context]({image_prefix}context.png) "
                f"![NLL per family]({image_prefix}families.png) "
                f"![training cost]({image_prefix}cost.png)"]
  return "\n".join(lines)


def _ci(ev: dict) -> float:
  """An eval's 95 % half-width for an error bar: NaN (no bar) where the file has
  null (one unit: undefined)."""
  return float("nan") if ev["ci95_bits"] is None else ev["ci95_bits"]


def _reference_lines(ax, refs: dict) -> None:
  """Horizontal lines at the previous-sample and linear-prediction references."""
  ax.axhline(refs["previous_sample"], ls="--", c="gray", label="previous sample")
  if "linear_prediction" in refs:  # results written before it was added lack it
    ax.axhline(refs["linear_prediction"], ls=":", c="gray", label="linear prediction")


def plots(results: dict, folder: str) -> list[str]:
  """context.png, families.png, cost.png in `folder`; returns their paths."""
  runs = results["runs"]
  protocol = "full" if runs and "full" in runs[0]["eval"] else next(
      iter(runs[0]["eval"]))
  paths = []
  ctx = sorted((r for r in runs if r["group"] == "context"), key=lambda r: r["x"])
  fig, ax = plt.subplots(figsize=(5, 3.2))
  if ctx:
    ax.errorbar([r["x"] for r in ctx], [r["eval"][protocol]["nll_bits"] for r in ctx],
                yerr=[_ci(r["eval"][protocol]) for r in ctx], marker="o",
                capsize=3, label="paper's model")
    _reference_lines(ax, ctx[0]["eval"][protocol]["references"])
    ax.set_xscale("log", base=2)
  ax.set_xlabel("context (tokens)")
  ax.set_ylabel(f"NLL, bits/sample ({protocol})")
  ax.legend(fontsize=8)
  fig.tight_layout()
  paths.append(os.path.join(folder, "context.png"))
  fig.savefig(paths[-1], dpi=110)
  plt.close(fig)
  fam = [r for r in runs if r.get("family_bar", r["group"] == "family")]
  fig, ax = plt.subplots(figsize=(5, 3.2))
  ax.bar(range(len(fam)), [r["eval"][protocol]["nll_bits"] for r in fam],
         yerr=[_ci(r["eval"][protocol]) for r in fam], capsize=4)
  ax.set_xticks(range(len(fam)), [r["name"] for r in fam], rotation=20, fontsize=8)
  if fam:
    _reference_lines(ax, fam[0]["eval"][protocol]["references"])
    top = max([r["eval"][protocol]["nll_bits"] for r in fam]
              + list(fam[0]["eval"][protocol]["references"].values()))
    ax.set_ylim(0, 1.3 * top)  # room above the bars for the legend
    ax.legend(fontsize=8, loc="upper left", ncol=2)
  ax.set_ylabel(f"NLL, bits/sample ({protocol})")
  fig.tight_layout()
  paths.append(os.path.join(folder, "families.png"))
  fig.savefig(paths[-1], dpi=110)
  plt.close(fig)
  fig, ax = plt.subplots(figsize=(5, 3.2))
  ax.bar(range(len(runs)), [r["train_seconds"] / 60 for r in runs])
  ax.set_xticks(range(len(runs)), [r["name"] for r in runs], rotation=45,
                fontsize=7, ha="right")
  ax.set_ylabel("training, minutes")
  fig.tight_layout()
  paths.append(os.path.join(folder, "cost.png"))
  fig.savefig(paths[-1], dpi=110)
  plt.close(fig)
  return paths


def write(results: dict, folder: str) -> None:
  strict_json.write(os.path.join(folder, "results.json"), results)
  with open(os.path.join(folder, "results.md"), "w") as f:
    f.write(markdown(results) + "\n")
  plots(results, folder)


def update_readme(readme: str, results_path: str) -> None:
  """Replaces the README's study section with the tables of `results_path`."""
  with open(results_path) as f:
    results = json.load(f)
  prefix = os.path.relpath(os.path.dirname(os.path.abspath(results_path)),
                           os.path.dirname(os.path.abspath(readme))) + "/"
  with open(readme) as f:
    text = f.read()
  if BEGIN not in text or END not in text:
    raise ValueError(f"{readme} has no {BEGIN} ... {END} section to fill")
  head, rest = text.split(BEGIN, 1)
  _, tail = rest.split(END, 1)
  with open(readme, "w") as f:
    f.write(head + BEGIN + "\n" + markdown(results, prefix) + "\n" + END + tail)


FLAGS = flags.FlagValues()
_RESULTS = flags.DEFINE_string("results", None, "a study's results.json",
                               flag_values=FLAGS, required=True)
_README = flags.DEFINE_string("readme", "README.md", "the README to update",
                              flag_values=FLAGS)


def main(argv=None) -> int:
  if (code := cli.parse(FLAGS, argv, "audiolm_jax.study.report", __doc__)) is not None:
    return code
  try:
    update_readme(_README.value, _RESULTS.value)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"updated {_README.value} from {_RESULTS.value}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
