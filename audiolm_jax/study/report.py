"""A study's report: results.json, results.md (the tables) and three plots.

`doc_section` is the study's section of docs/studies.md (between
`<!-- study:NAME:begin -->` and `<!-- study:NAME:end -->`, NAME the results' study
name), which `python -m audiolm_jax.tables --results DIR/results.json --doc
docs/studies.md` writes from a committed results.json. A study over seeds gets its
over-seeds table there, and a link to results.md for the per-run rows.
"""

from __future__ import annotations

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

from audiolm_jax import strict_json  # pylint: disable=wrong-import-position
from audiolm_jax.study import seeds  # pylint: disable=wrong-import-position


def markers(study_name: str) -> tuple[str, str]:
  """The comments around a study's generated section of a document."""
  return f"<!-- study:{study_name}:begin -->", f"<!-- study:{study_name}:end -->"


def collect(study_name: str, command: str, trained: list[dict], scores: list[dict],
            truncated: dict | None, missing: list[str] | None = None,
            baseline: str | None = None) -> dict:
  """The report's data; `missing` names the study's runs not trained yet; every
  other entry is compared with a `baseline` entry paired by seed."""
  runs = []
  for t, s in zip(trained, scores):
    runs.append({k: v for k, v in t.items() if k != "config"} | {
        "eval": {p: {k: r.get(k) for k in ("nll_bits", "ci95_bits", "samples", "units",
                                           "references", "interval", "short_past",
                                           "max_seconds_per_file", "split")}
                 for p, r in s.items()}})
  over = {p: seeds.summary(runs, p, baseline) for p in (runs[0]["eval"] if runs
                                                        else {})}
  return {"study": study_name, "command": command, "runs": runs,
          "seeds": {p: rows for p, rows in over.items() if rows} or None,
          "truncated": truncated, "missing": list(missing or [])}


def _fmt(v, ci=None, signed: bool = False) -> str:
  if v is None:
    return "-"
  return (f"{v:+.3f}" if signed else f"{v:.3f}") + (
      f" ± {ci:.3f}" if ci is not None and ci == ci else "")


def markdown(results: dict, image_prefix: str = "", per_run: bool = True) -> str:
  """The report's tables; per_run=False keeps the over-seeds table and the plots
  and points to results.md for every run's own row (a seed study's part of docs/studies.md)."""
  runs = results["runs"]
  protocols = list(runs[0]["eval"]) if runs else []
  first = runs[0]["eval"][protocols[0]] if protocols else {}
  caps = "; ".join(f"`{p}` on the first {runs[0]['eval'][p]['max_seconds_per_file']:g}"
                   f" s of each file" for p in protocols
                   if runs[0]["eval"][p].get("max_seconds_per_file"))
  lines = []
  if results.get("missing"):
    lines += [f"**Interim report**: not trained yet, so not in these tables: "
              f"{', '.join(results['missing'])}.", ""]
  lines += [f"Reproduce with `{results['command']}`. Every run trained on "
           f"{runs[0]['targets']:,} targets (recipe `{runs[0]['recipe']}`); NLL in "
           f"bits per sample on the {first.get('split', 'test')} split"
           + (f" ({caps})" if caps else "")
           + ", with 95 % intervals; references (on the first protocol's samples): "
           + "backward-adaptive linear prediction (order 32), "
           + "the previous-sample Laplace and the training histogram"
           + ("" if per_run else _reference_values(first.get("references", {})))
           + ".", ""]
  families = any(r.get("family_bar", r["group"] == "family") for r in runs)
  plots_line = (f"![NLL against context]({image_prefix}context.png) "
                + (f"![NLL per family]({image_prefix}families.png) " if families
                   else "")
                + f"![training cost]({image_prefix}cost.png)")
  # Runs no better than the previous-sample predictor under some protocol: marked
  # in both tables, never dropped.
  failed = {(seeds.base_name(r), r.get("seed")) for r in runs
            if any(seeds.above_previous_sample(r["eval"][p]) for p in protocols)}
  failed_note = ["", _FAILED_NOTE] if failed else []
  if not per_run:
    return "\n".join(lines + _seed_lines(results.get("seeds"), failed)[1:]
                     + failed_note + [
        "", f"Every run's own score (interval over files), references and training "
        f"time: [results.md]({image_prefix}results.md).", "", plots_line])
  head = ("| run | model | context | params | "
          + " | ".join(f"`{p}` NLL" for p in protocols)
          + " | linear prediction | previous sample | histogram | train s |")
  lines += [head, "|" + "---|" * (head.count("|") - 1)]
  for r in runs:
    ev = r["eval"]
    refs = ev[protocols[0]]["references"] if protocols else {}
    ctx = (f"{r['x']} tokens" if r["group"] == "context"
           else "unbounded" if r.get("context_samples") is None
           else f"{r['context_samples']:,} samples")
    lines.append(f"| {r['name']} | {r['model']} | {ctx} | {r['params']:,} | "
                 + " | ".join(_fmt(ev[p]["nll_bits"], ev[p]["ci95_bits"])
                              + (_FAILED if seeds.above_previous_sample(ev[p]) else "")
                              for p in protocols)
                 + f" | {_fmt(refs['linear_prediction'])}"
                 + f" | {_fmt(refs.get('previous_sample'))} | "
                   f"{_fmt(refs.get('marginal'))} | {r['train_seconds']:.0f} |")
  lines += _seed_lines(results.get("seeds"), failed) + failed_note
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
  lines += ["", plots_line]
  return "\n".join(lines)


_FAILED = " †"
_FAILED_NOTE = ("† No better than the previous-sample reference on the same samples: "
                "the training learned less than \"the next sample repeats the last "
                "one\". Marked, never dropped: every mean and interval includes it.")


def _reference_values(refs: dict) -> str:
  names = (("linear_prediction", "linear prediction"),
           ("previous_sample", "previous sample"), ("marginal", "histogram"))
  return ("; on these samples " + ", ".join(f"{label} {refs[k]:.3f}"
                                            for k, label in names if k in refs)
          + " bits" if refs else "")


def _seed_lines(over: dict | None, failed: set[tuple[str, int]]) -> list[str]:
  """The over-seeds table (results with `seeds`), one column group per protocol;
  the seeds of `failed` (entry, seed) runs are marked."""
  if not over:
    return []
  protocols = list(over)
  rows = {p: {r["base"]: r for r in over[p]} for p in protocols}
  first = over[protocols[0]]
  shortest = next((r["minus_shortest"]["base"] for r in first if "minus_shortest" in r),
                  None)
  baseline = next((r["minus_baseline"]["base"] for r in first
                   if "minus_baseline" in r), None)
  lines = ["", "Over seeds: each entry trained once per seed (initialisation, dropout "
           "and data order) and scored on the same files; the mean over seeds with "
           "its 95 % interval over seeds (Student's t: the spread of the training, "
           "not of the files), the seeds' standard deviation and range"
           + (f", and each context minus {shortest}'s mean (Welch's 95 % interval; "
              f"negative: the longer context is better)" if shortest else "")
           + (f"; each entry minus {baseline}, paired by seed (one seed is one "
              f"initialisation and data order), with a Student's t 95 % interval over "
              f"the seeds both trained" if baseline else "") + ":", ""]
  head = "| entry | seeds |" + "".join(
      f" `{p}` mean | sd | range |" + (f" minus {shortest} |" if shortest else "")
      + (f" minus {baseline}, paired |" if baseline else "")
      for p in protocols)
  lines += [head, "|" + "---|" * (head.count("|") - 1)]
  for r in first:
    cells = [r["base"], ", ".join(
        f"{s}{_FAILED if (r['base'], s) in failed else ''}" for s in r["seeds"])]
    for p in protocols:
      row = rows[p][r["base"]]
      cells += [_fmt(row["mean_bits"], row["ci95_bits"]),
                _fmt(row["sd_bits"]),
                f"{min(row['nll_bits']):.3f}-{max(row['nll_bits']):.3f}"]
      if shortest:
        m = row.get("minus_shortest")
        cells.append(_fmt(m["diff_bits"], m["ci95_bits"], signed=True) if m else "-")
      if baseline:
        m = row.get("minus_baseline")
        cells.append(_fmt(m["diff_bits"], m["ci95_bits"], signed=True) if m else "-")
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def _nan(ci: float | None) -> float:
  """An error bar's half-width: NaN (no bar) for null (one unit: undefined)."""
  return float("nan") if ci is None else ci


def _ci(ev: dict) -> float:
  """An eval's 95 % half-width for an error bar."""
  return _nan(ev["ci95_bits"])


def _reference_lines(ax, refs: dict) -> None:
  """Horizontal lines at the previous-sample and linear-prediction references."""
  ax.axhline(refs["previous_sample"], ls="--", c="gray", label="previous sample")
  ax.axhline(refs["linear_prediction"], ls=":", c="gray", label="linear prediction")


def plots(results: dict, folder: str) -> list[str]:
  """context.png, families.png, cost.png in `folder`; returns their paths."""
  runs = results["runs"]
  protocol = "full" if runs and "full" in runs[0]["eval"] else next(
      iter(runs[0]["eval"]))
  paths = []
  over = (results.get("seeds") or {}).get(protocol)
  ctx = sorted((r for r in runs if r["group"] == "context"), key=lambda r: r["x"])
  fig, ax = plt.subplots(figsize=(5, 3.2))
  if ctx and over:  # every seed's run, and the seed means with their interval
    ax.plot([r["x"] for r in ctx], [r["eval"][protocol]["nll_bits"] for r in ctx],
            "o", c="gray", alpha=0.5, ms=4, label="one seed")
    means = sorted((r for r in over if r["group"] == "context"), key=lambda r: r["x"])
    ax.errorbar([r["x"] for r in means], [r["mean_bits"] for r in means],
                yerr=[_nan(r["ci95_bits"]) for r in means], marker="o", capsize=3,
                label="paper's model, mean over seeds")
  elif ctx:
    ax.errorbar([r["x"] for r in ctx], [r["eval"][protocol]["nll_bits"] for r in ctx],
                yerr=[_ci(r["eval"][protocol]) for r in ctx], marker="o",
                capsize=3, label="paper's model")
  if ctx:
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
  if over:  # one bar per entry: its seed mean and interval over seeds
    by_base = {o["base"]: o for o in over}
    bars = {seeds.base_name(r): r for r in fam}
    names = list(bars)
    heights = [by_base[n]["mean_bits"] for n in names]
    errors = [_nan(by_base[n]["ci95_bits"]) for n in names]
    fam = list(bars.values())
  else:
    names = [r["name"] for r in fam]
    heights = [r["eval"][protocol]["nll_bits"] for r in fam]
    errors = [_ci(r["eval"][protocol]) for r in fam]
  fig, ax = plt.subplots(figsize=(5, 3.2))
  ax.bar(range(len(fam)), heights, yerr=errors, capsize=4)
  ax.set_xticks(range(len(fam)), names, rotation=20, fontsize=8)
  if fam:
    _reference_lines(ax, fam[0]["eval"][protocol]["references"])
    top = max(heights
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


def doc_section(results: dict, results_path: str, doc: str) -> str:
  """The study's section of the markdown file `doc` (image paths relative to it);
  a seed study's per-run rows (seeds x entries) stay in its results.md."""
  prefix = os.path.relpath(os.path.dirname(os.path.abspath(results_path)),
                           os.path.dirname(os.path.abspath(doc))) + "/"
  return markdown(results, prefix, per_run=not results.get("seeds"))
