"""Markdown tables from a benchmark results file: docs/performance.md's section
between `<!-- performance:begin -->` and `<!-- performance:end -->`, which
`python -m audiolm_jax.tables --results benchmarks/results_cpu.json --doc
docs/performance.md` rewrites.
"""

from __future__ import annotations

from audiolm_jax import models

BEGIN, END = "<!-- performance:begin -->", "<!-- performance:end -->"


def _num(x: float, digits: int = 3) -> str:
  """Three significant figures, thousands separated: 0.00225, 2.25, 201, 12,300."""
  if x is None:  # not measured
    return "-"
  if x == 0 or x != x:
    return str(x)
  magnitude = len(str(int(abs(x)))) if abs(x) >= 1 else 0
  decimals = max(0, digits - magnitude) if abs(x) >= 1 else digits - 1 - int(
      f"{abs(x):e}".split("e")[1])
  return f"{x:,.{decimals}f}"


def _context(samples: int | None) -> str:
  if samples is None:
    return "unbounded"
  if samples % 1_000_000 == 0:
    return f"{samples // 1_000_000}M"
  return f"{samples // 1000:,}k" if samples % 1000 == 0 else f"{samples:,}"


def _header(suite: dict) -> list[str]:
  v = suite["versions"]
  return [f"Measured {suite['date']} on {suite['device']} (jax {v['jax']}, flax "
          f"{v['flax']}{', torch ' + v['torch'] if 'torch' in v else ''}); "
          f"reproduce with `{suite['command']}`.", ""]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
  return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
          + ["| " + " | ".join(r) + " |" for r in rows] + [""])


def per_target(s: dict) -> list[str]:
  lines = ["## Chunked vs dense, per target", ""] + _header(s)
  lines += [f"The paper model with random parameters; chunked = the paper's literal "
            f"computation on {s['chunked_batch']} contexts, dense = one row with K "
            f"targets. fwd = eval-mode forward, fwd+bwd = gradient of the mean "
            f"cross-entropy. Time: fastest of the repeats after a warm-up (one run "
            f"when a run outlasts the time budget); FLOPs and memory: XLA's compiled "
            f"cost and buffer analyses. (blocks) / (blocks+encoder): the plain "
            f"computation needs more memory than the device has, so the row ran "
            f"with `remat_block` / also `remat_encoder` (same numbers; the time "
            f"includes the recompute; the GFLOP are the plain computation's, the GiB "
            f"what ran).", ""]
  rows = []
  for r in s["rows"]:
    path = "chunked" if r["path"] == "chunked" else f"dense, K = {r['num_targets']:,}"
    ms = (_num(r["ms_per_target"]) if "ms_per_target" in r
          else f"not run: {r['skipped']}")
    if r.get("remat"):
      ms += f" ({r['remat']})"
    rows.append([_context(r["context"]), r["pass"], path, ms,
                 _num(r["gflop_per_target"]), _num(r["compiled_gib"])])
  lines += _table(["context", "pass", "path", "ms per target", "GFLOP per target",
                   "compiled GiB"], rows)
  rows = [[_context(r["context"]), r["pass"], f"{r['num_targets']:,}",
           _num(r["time_ratio"]) + "x" if "time_ratio" in r else "-",
           _num(r["flop_ratio"]) + "x"] for r in s["ratios"]]
  return lines + _table(["context", "pass", "dense K", "chunked / dense time",
                         "chunked / dense FLOPs"], rows)


def _remat(r: dict) -> str:
  parts = (["encoder"] if r["remat_encoder"] else []) + (
      [f"blocks of {r['remat_block']}"] if r.get("remat_block") else [])
  return " + ".join(parts) or "no"


def training(s: dict) -> list[str]:
  m = s["matmul"]
  lines = ["## Training throughput and MFU", ""] + _header(s)
  lines += [f"The train step `train.py` compiles (data parallel, state donated) on "
            f"random windows. MFU = XLA's FLOPs of the step without rematerialization "
            f"and with recurrent scans unrolled per second / the measured "
            f"{m['dtype']} matmul rate of {_num(m['tflops'])} TFLOP/s ({m['size']} x "
            f"{m['size']}) per device. Compiled GiB: the step's device memory "
            f"(arguments, outputs, temporaries).", ""]
  rows = [[r["config"], _context(r["context"]), f"{r['batch_size']} x "
           f"{r['targets_per_step'] // r['batch_size']:,}", r["dtype"], _remat(r)]
          + ([_num(r["step_s"]), _num(r["targets_per_s"]), _num(r["audio_s_per_s"]),
              _num(r["model_tflop_per_step"]), f"{100 * r['mfu']:.1f} %"]
             if "step_s" in r else [f"not run: {r['skipped']}", "", "", "", ""])
          + [_num(r["compiled_gib"])]
          for r in s["rows"]]
  return lines + _table(["config", "context", "batch x targets", "dtype", "remat",
                         "s per step", "targets/s", "audio s/s", "TFLOP per step",
                         "MFU", "compiled GiB"], rows)


def generation(s: dict) -> list[str]:
  lines = ["## Generation", ""] + _header(s)
  lines += [f"Random parameters and prompt. cached = each family's incremental state "
            f"(blocks of {s['block']} samples in one `lax.scan`), naive = its "
            f"prediction recomputed from the whole context per sample. Samples/s and "
            f"the real-time factor (audio seconds per second, 1 = 16 kHz playback) "
            f"count every stream.", ""]
  family = lambda r: r.get("model", models.DEFAULT_FAMILY)  # rows before families
  speedup = {(family(x), x["batch"]): x["cached_over_naive"] for x in s["speedups"]}
  rows = [[family(r), _context(r.get("context", s["context"])), str(r["batch"]),
           r["method"], _num(r["samples_per_s"]), _num(r["real_time_factor"]),
           _num(speedup[(family(r), r["batch"])]) + "x"
           if r["method"] == "cached" else ""]
          for r in s["rows"]]
  return lines + _table(["model", "context", "streams", "method", "samples/s",
                         "real-time factor", "cached / naive"], rows)


def memory(s: dict) -> list[str]:
  lines = ["## Training memory against context", ""] + _header(s)
  lines += [f"Compiled memory per device of the train step (arguments + outputs + "
            f"temporaries, XLA's buffer assignment), dense objective with "
            f"{s['rows'][0]['num_targets']:,} targets per row; the largest batch is "
            f"per device against {_num(s['memory_limit_gib'])} GiB, confirmed by "
            f"compiling it and the next (\"predicted\": from batches 1 and 2 alone).",
            ""]
  rows = [[_context(r["context"]), _remat(r),
           _num(r["gib_batch_1"]), _num(r["gib_per_extra_row"]),
           str(r["largest_batch_per_device"]) if "largest_batch_per_device" in r
           else f"{r['largest_batch_predicted']} (predicted)"] for r in s["rows"]]
  return lines + _table(["context", "remat", "GiB at batch 1", "GiB per extra row",
                         "largest batch"], rows)


def torch(s: dict) -> list[str]:
  lines = ["## PyTorch reference vs JAX", ""] + _header(s)
  lines += [f"`audiolm_jax/bench/torch_reference.py` (the paper's model written from the "
            f"paper, our parameters ported in; a test checks equal log-probabilities "
            f"within 1e-4), context {_context(s['context'])}, forward only; chunked "
            f"paths on {s['chunked_batch']} contexts, dense with K = "
            f"{s['num_targets']:,}; PyTorch on {s['torch_threads']} threads.", ""]
  names = {"torch_eager": "PyTorch eager, chunked",
           "torch_compile": "PyTorch `torch.compile`, chunked",
           "jax_chunked": "JAX chunked", "jax_dense": "JAX dense"}
  rows = [[names[k], _num(v)] for k, v in s["ms_per_target"].items()]
  return lines + _table(["implementation", "ms per target"], rows)


def pipeline(s: dict) -> list[str]:
  lines = ["## Input pipeline", ""] + _header(s)
  lines += [f"Windows of {s['context'] + s['num_targets']:,} codes in batches of "
            f"{s['batch']}; demand = one batch per {_num(s['step_seconds'])} s (the default "
            f"config's measured step).", ""]
  rows = [[str(r["workers"]), _num(r["windows_per_s"]), _num(r["samples_per_s"] / 1e6),
           _num(r["supply_over_demand"]) + "x"] for r in s["rows"]]
  return lines + _table(["Grain workers", "windows/s", "M samples/s",
                         "supply / demand"], rows)


_SPLIT_NAMES = {"test": "held-out piano (test)",
                "test_seen_timbres": "training pianos (test_seen_timbres)"}


def _cell(r, key):
  if key not in r:
    return ""
  return "not installed" if r[key] is None else _num(r[key])


def codec(s: dict) -> list[str]:
  lines = ["## Lossless codec", ""] + _header(s)
  lines += [f"On the first {_num(s['seconds_per_file'])} s of every file, with the "
            f"{s['model']} model of `{s['workdir']}` (step {s['step']}, recipe "
            f"`{s['recipe']}`). 8-bit codes: bits per sample (8 = raw) of the codec "
            f"with each predictor (file bytes, header included), the model's NLL on "
            f"the model-alone row's segments (each from silence), and general-purpose "
            f"coders. 16-bit PCM (16 = raw): the codec's lossless mode (its bits "
            f"split into the 8-bit codes and the offsets inside their bins) against "
            f"lossless audio coders at their strongest settings; every output was "
            f"decoded and compared. Speeds in samples/s after a warm-up file "
            f"(compiles excluded); an external tool's include its process start.", ""]
  for split, part in s["splits"].items():
    margin = part["mix_margin"]
    lines += [f"**{_SPLIT_NAMES.get(split, split)}**: {part['files']} files, "
              f"{part['samples']:,} samples. File by file (16 segments), the mix "
              f"minus the better of its two members is at most "
              f"{_num(margin['worst_excess_bits_per_sample'])} bits/sample (negative: "
              f"below it); above it on {margin['files_above_best']} of "
              f"{margin['files']} files.", ""]
    rows = [[r["method"], _cell(r, "bits_per_sample"), _cell(r, "nll_bits_per_sample"),
             _cell(r, "encode_samples_per_s"), _cell(r, "decode_samples_per_s")]
            for r in part["rows"]]
    lines += _table(["8-bit codes", "bits/sample", "model NLL bits/sample",
                     "encode samples/s", "decode samples/s"], rows) + [""]
    rows = [[r["method"], _cell(r, "bits_per_sample"),
             _num(16 / r["bits_per_sample"]) + "x" if r["bits_per_sample"] else "",
             _cell(r, "code_bits_per_sample"), _cell(r, "offset_bits_per_sample"),
             _cell(r, "encode_samples_per_s"), _cell(r, "decode_samples_per_s")]
            for r in part["pcm16_rows"]]
    lines += _table(["16-bit PCM", "bits/sample", "ratio", "of which codes",
                     "of which offsets", "encode samples/s", "decode samples/s"],
                    rows) + [""]
  return lines


def sampled_cost(s: dict) -> list[str]:
  rows = s["rows"]
  lines = ["## The `sampled` protocol's cost per scored target", ""] + _header(s)
  lines += [f"One call scores "
            f"{rows[0]['batch']} targets, each after its own full context (XLA's "
            f"compiled FLOPs and memory), then {rows[0].get('positions', 0)} random "
            f"targets per context are scored with random parameters and timed. Dense "
            f"with K = 1 reads a window of context + 1 codes per target; the chunked "
            f"path (what the protocol runs) encodes the context's chunks once.", ""]
  cells = [[f"{r['context']:,}", _num(r["dense_gflop_per_target"]),
            _num(r["chunked_gflop_per_target"]),
            _num(r["dense_gflop_per_target"] / r["chunked_gflop_per_target"]) + "x",
            f"{_num(r['dense_gib'])} / {_num(r['chunked_gib'])}",
            _num(r.get("s_per_target"))] for r in rows]
  return lines + _table(["context", "dense K = 1, GFLOP per target",
                         "chunked, GFLOP per target", "dense / chunked",
                         "compiled GiB, dense / chunked", "s per target (chunked)"],
                        cells) + [""]


SECTIONS = {"per_target": per_target, "training": training, "generation": generation,
            "memory": memory, "torch": torch, "pipeline": pipeline, "codec": codec,
            "sampled_cost": sampled_cost}


def markdown(results: dict) -> str:
  """Every suite present in `results`, in a fixed order, as markdown."""
  lines = []
  for name, render in SECTIONS.items():
    if name in results:
      lines += render(results[name])
  return "\n".join(lines)


def replace_section(readme: str, section: str, begin: str = BEGIN,
                    end: str = END) -> str:
  """`readme` with the text between the `begin` and `end` markers (by default the
  performance page's) replaced by `section`."""
  if readme.count(begin) != 1 or readme.count(end) != 1:
    raise ValueError(f"the document needs exactly one {begin} line and one {end} line")
  head, rest = readme.split(begin)
  _, tail = rest.split(end)
  return f"{head}{begin}\n{section.rstrip()}\n{end}{tail}"
