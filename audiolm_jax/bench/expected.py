"""The README's "expected results" table, generated from committed results alone.

Reads `benchmarks/results_cpu.json` (the benchmark suites),
`results/STUDY/results.json` (the study runner's) and the other files named below;
`python -m audiolm_jax.tables --readme README.md` writes the table between
`<!-- expected:begin -->` and `<!-- expected:end -->`. A test fails when the README
drifts from them.
"""

from __future__ import annotations

import json
import os

from audiolm_jax.bench import report

BEGIN, END = "<!-- expected:begin -->", "<!-- expected:end -->"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHMARKS = "benchmarks/results_cpu.json"
DEMO_STUDY = "results/context_seeds_default/results.json"   # make demo's model, seeds
TABLE1_STUDY = "results/table1_cpu/results.json"            # the four families
AOT = "benchmarks/aot_tpu.json"                             # TPU compiles (bench aot)
OTHER_CPU = "benchmarks/demo_seeds_amd_epyc_avx2.json"  # make demo on another CPU kind


def _load(root: str, path: str) -> dict:
  with open(os.path.join(root, path)) as f:
    return json.load(f)


def _demo_row(study: dict, other_cpu: dict) -> list[str]:
  """`make demo`'s config over seeds, on the study's machine and on the other x86-64
  processor kind (`OTHER_CPU`): the range a user sees, the references."""
  entry = next(r for r in study["seeds"]["full"] if r["base"] == "default_8tok")
  run = next(r for r in study["runs"] if r["base"] == "default_8tok")
  refs = run["eval"]["full"]["references"]
  tests = list(entry["nll_bits"]) + [s["test"]["nll_bits"]
                                     for s in other_cpu["seeds"].values()]
  seeds = sorted(set(entry["seeds"]) | {int(k) for k in other_cpu["seeds"]})
  return [f"`make demo`'s model, held-out piano (test, first 2 s of 24 files), "
          f"seeds {seeds[0]}-{seeds[-1]} on two x86-64 processor kinds",
          f"{min(tests):.2f}-{max(tests):.2f} bits/sample",
          f"linear prediction {refs['linear_prediction']:.2f}, previous sample "
          f"{refs['previous_sample']:.2f}, histogram {refs['marginal']:.2f}",
          "[findings](docs/findings.md#the-same-seed-on-two-processor-kinds)"]


def _families_row(study: dict) -> list[str]:
  """The runs the study draws as its family bars (one per model family), best first."""
  bars = sorted((r for r in study["runs"] if r.get("family_bar")),
                key=lambda r: r["eval"]["full"]["nll_bits"])
  got = ", ".join(f"{r['model']} {r['eval']['full']['nll_bits']:.2f}" for r in bars)
  refs = bars[0]["eval"]["full"]["references"]
  params = sorted(r["params"] for r in bars)
  return [f"Table 1's {len(bars)} families at {params[0] / 1e3:.0f}k-"
          f"{params[-1] / 1e3:.0f}k parameters, {bars[0]['targets'] / 1e6:.2f}M "
          f"training targets each (test, single-piano set)", got,
          f"linear prediction {refs['linear_prediction']:.2f}, previous sample "
          f"{refs['previous_sample']:.2f}",
          "[studies](docs/studies.md)"]


def _dense_row(bench: dict) -> list[str]:
  ratio = next(r for r in bench["per_target"]["ratios"] if r["context"] == 128_000
               and r["pass"] == "fwd+bwd" and r["num_targets"] == 16_384)
  return ["training cost per target at 128k samples of context, chunked (the paper's) "
          "/ dense (K = 16,384)",
          f"dense: {report._num(ratio['flop_ratio'])}x fewer FLOPs, "
          f"{report._num(ratio['time_ratio'])}x less time",
          "same model, same logits (tested)", "[performance](docs/performance.md)"]


def _codec_row(bench: dict) -> list[str]:
  split = bench["codec"]["splits"]["test"]
  codes = {r["method"]: r["bits_per_sample"] for r in split["rows"]}
  pcm = {r["method"]: r["bits_per_sample"] for r in split["pcm16_rows"]}
  mix = codes["codec, the mix, 16 segments"]
  lossless = pcm["codec, lossless 16-bit, the mix, 16 segments"]
  wavpack = pcm.get("WavPack -hhx")
  return ["lossless codec with `make demo`'s model, held-out piano: 16-bit PCM; "
          "its 8-bit codes (16 segments)",
          f"16-bit: {lossless:.2f} bits/sample ({16 / lossless:.2f}x); 8-bit codes: "
          f"the mix {mix:.2f}",
          f"16-bit: FLAC -8 {pcm['FLAC -8']:.2f}"
          + (f", WavPack -hhx {wavpack:.2f}" if wavpack else "")
          + f"; 8-bit: model alone {codes['codec, the model alone, 16 segments']:.2f}, "
          f"linear prediction alone "
          f"{codes['codec, linear prediction alone, 16 segments']:.2f}, FLAC -8 "
          f"{codes['FLAC -8 of the codes as 8-bit PCM']:.2f}",
          "[codec](docs/codec.md)"]


def _tpu_row(aot: dict) -> list[str]:
  """Whether the paper's batch of 40 fits 4 chips of each TPU kind compiled so far."""
  parts = []
  for config, label in (("paper_128k", "128k"), ("paper_500k", "500k"),
                        ("million", "1M")):
    rows = [r for k, r in aot["rows"].items()
            if k.startswith(f"batch40|configs/{config}.py|") and "memory" in r]
    if not rows:
      continue
    remat = rows[0].get("remat", {})
    how = ("remat " + "+".join(k.replace("remat_", "") + f"={v}"
                               for k, v in remat.items() if v) if any(remat.values())
           else "no remat")
    kinds = {}
    for r in rows:
      largest = aot["rows"].get(f"largest|configs/{config}.py|{r['slice']}|{r['dtype']}",
                                {})
      most = (f" (up to {largest['largest_batch_per_chip']})"
              if largest.get("confirmed") and largest.get("largest_batch_per_chip")
              else "")
      kinds.setdefault(r["chip"], []).append(
          f"{'bf16' if r['dtype'] == 'bfloat16' else 'f32'} "
          + (f"{r['memory']['total_gib']:.1f}" if r["fits"] else "no") + most)
    parts.append(f"{label} ({how}): " + "; ".join(
        f"{chip} {', '.join(v)}" for chip, v in kinds.items()))
  return ["the paper's batch of 40 on 4 TPU chips, its configs as shipped (compiled "
          "by libtpu on this CPU, not run): GiB per chip or no; (up to N): the largest "
          "batch per chip that fits, confirmed by compiling N+1",
          "<br>".join(parts), "HBM per chip: v4 32, v5e 16, v5p 95, v6e 32",
          "[scaling](docs/scaling.md#compiled-for-tpu-slices)"]


def table(root: str = REPO) -> str:
  """The expected-results table (markdown) from the committed results under root."""
  bench = _load(root, BENCHMARKS)
  rows = [_demo_row(_load(root, DEMO_STUDY), _load(root, OTHER_CPU)),
          _families_row(_load(root, TABLE1_STUDY)),
          _dense_row(bench), _codec_row(bench), _tpu_row(_load(root, AOT))]
  head = ["what", "result", "against", "details"]
  lines = [f"Measured on 2-core x86-64 CPUs with jax "
           f"{bench['codec']['versions']['jax']} (each section of docs/performance.md "
           f"names its machine; the demo's row on two processor kinds, named in "
           f"docs/findings.md); generated from `{BENCHMARKS}`, "
           f"`{DEMO_STUDY}`, `{OTHER_CPU}`, `{TABLE1_STUDY}` and `{AOT}` by "
           f"`python -m audiolm_jax.tables --readme README.md`.", ""]
  lines += report._table(head, rows)
  return "\n".join(lines)


def replace_section(text: str, section: str) -> str:
  """`text` with the lines between the expected-results markers replaced."""
  return report.replace_section(text, section, BEGIN, END)
