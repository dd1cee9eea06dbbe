"""The codec against general-purpose and audio compressors, on one run's test data.

For each split (by default the held-out piano, `test`, and the training pianos,
`test_seen_timbres`), on the first `seconds_per_file` of every file:

8-bit codes, bits per sample (8 = raw): the codec with each predictor (the run's
model alone, linear prediction alone, their mix) at each segment count, file bytes
with the header; the model's NLL on the model-alone row's segments (the coder's
overhead); per file, how far the mix came above the better member; FLAC -8 of the
codes as 8-bit PCM; xz, zstd and gzip at their highest levels on the code bytes.

16-bit PCM, bits per sample (16 = raw): the codec in its lossless mode (mix), with
the share of its bits in the codes and in the offsets inside their bins; FLAC -8
(libFLAC via soundfile); WavPack -hhx; TTA and ALAC (ffmpeg); xz -9e of the PCM
bytes. Every coder's output is decoded and compared with the input. Speeds are
samples per second, after a warm-up file (compiles excluded); an external tool's
include its process start. A tool that is not installed gives None.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np
import soundfile as sf

from audiolm_jax import codec
from audiolm_jax.codec import streams
from audiolm_jax.codec.mixing import Mixing
from audiolm_jax.data import pipeline, recipes
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.evaluation.scorer import Scorer
from audiolm_jax.checkpoints.run import open_run


def _flac_bytes(data: np.ndarray, subtype: str) -> int:
  buffer = io.BytesIO()
  sf.write(buffer, data, SAMPLE_RATE, format="FLAC", subtype=subtype,
           compression_level=1.0)  # soundfile's 1.0 is libFLAC's level 8
  return len(buffer.getvalue())


def _zstd_bytes(data: bytes) -> int | None:
  try:
    import zstandard  # pylint: disable=g-import-not-at-top
    return len(zstandard.ZstdCompressor(level=22).compress(data))
  except ImportError:
    pass
  if shutil.which("zstd") is None:
    return None
  out = subprocess.run(["zstd", "-q", "-c", "--ultra", "-22"], input=data,
                       capture_output=True, check=True)
  return len(out.stdout)


def _general_purpose(codes: np.ndarray) -> dict[str, int | None]:
  data = codes.astype(np.uint8).tobytes()
  return {"xz": len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)),
          "gzip": len(gzip.compress(data, compresslevel=9)),
          "zstd": _zstd_bytes(data)}


def _model_nll_bits(scorer: Scorer, layout: streams.Layout, codes) -> float:
  """The model's NLL (bits, summed) of the codes, segment by segment from silence:
  each segment scored as a file of its own."""
  begins = np.cumsum((0,) + layout.lengths[:-1])
  segments = [codes[b:b + n] for b, n in zip(begins, layout.lengths)]
  return float(sum(np.sum(x, dtype=np.float64) for x in scorer.score_files(segments)))


def _timed(fn, *args, **kw):
  start = time.perf_counter()
  out = fn(*args, **kw)
  return out, time.perf_counter() - start


def _tool(pcm: np.ndarray, encode_cmd, decode_cmd, ext: str, workdir: str):
  """(bytes, encode s, decode s) of an external lossless coder on int16 PCM [T, C],
  checked exact; None if the tool is not installed."""
  if shutil.which(encode_cmd[0]) is None:
    return None
  src, coded, back = (os.path.join(workdir, n) for n in ("in.wav", "out" + ext,
                                                         "back.wav"))
  for path in (coded, back):
    if os.path.exists(path):
      os.remove(path)
  sf.write(src, pcm, SAMPLE_RATE, subtype="PCM_16")
  fill = lambda cmd: [c.format(src=src, coded=coded, back=back) for c in cmd]
  _, enc = _timed(subprocess.run, fill(encode_cmd), check=True, capture_output=True)
  _, dec = _timed(subprocess.run, fill(decode_cmd), check=True, capture_output=True)
  decoded, _ = sf.read(back, dtype="int16", always_2d=True)
  if not np.array_equal(decoded, pcm):
    raise AssertionError(f"{encode_cmd[0]} did not round-trip exactly")
  return os.path.getsize(coded), enc, dec


_TOOLS = {
    "WavPack -hhx": (["wavpack", "-hhx", "-q", "-y", "{src}", "-o", "{coded}"],
                     ["wvunpack", "-q", "-y", "{coded}", "-o", "{back}"], ".wv"),
    "TTA (ffmpeg)": (["ffmpeg", "-v", "error", "-y", "-i", "{src}", "-c:a", "tta",
                      "{coded}"],
                     ["ffmpeg", "-v", "error", "-y", "-i", "{coded}", "{back}"], ".tta"),
    "ALAC (ffmpeg, in .m4a)": (["ffmpeg", "-v", "error", "-y", "-i", "{src}", "-c:a",
                                "alac", "{coded}"],
                               ["ffmpeg", "-v", "error", "-y", "-i", "{coded}",
                                "-c:a", "pcm_s16le", "{back}"], ".m4a"),
}


def _flac_pcm16(pcm):
  buffer = io.BytesIO()
  sf.write(buffer, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16",
           compression_level=1.0)
  data = buffer.getvalue()
  return data


_CODES_RUNS = (("mix", 16), ("mix", 1), ("model", 16), ("linear", 16))


class _Totals(dict):
  def add(self, key, field, value):
    row = self.setdefault(key, {})
    row[field] = None if value is None or row.get(field, 0) is None else (
        row.get(field, 0) + value)


def _split_rows(model, params, names, files, pcms, recipe, runs, log):
  totals = _Totals()
  samples = 0
  scorer = Scorer(model, params, num_targets=4096, batch=4)
  excess = []  # per file: mix - min(model, linear), bits per sample, 16 segments
  with tempfile.TemporaryDirectory() as tmp:
    for name, codes, pcm in zip(names, files, pcms):
      samples += len(codes)
      per_file = {}
      for predictor, n in runs:
        key = f"codes|{predictor}|{n}"
        mixing = Mixing(predictor=predictor)
        data, enc = _timed(codec.compress, model, params, codes, segments=n,
                           recipe=recipe, mixing=mixing)
        (out, _), dec = _timed(codec.decompress, model, params, data)
        if not np.array_equal(out, codes):
          raise AssertionError(f"{name}: the codec's round trip is not exact")
        per_file[(predictor, n)] = 8 * len(data) / len(codes)
        for field, value in (("bytes", len(data)), ("encode_s", enc),
                             ("decode_s", dec)):
          totals.add(key, field, value)
        if predictor == "model":
          totals.add(key, "nll_bits", _model_nll_bits(
              scorer, streams.Layout.split(len(codes), n), codes))
      if all((p, 16) in per_file for p in ("mix", "model", "linear")):
        excess.append(per_file[("mix", 16)] - min(per_file[("model", 16)],
                                                   per_file[("linear", 16)]))
      totals.add("flac_8bit", "bytes", _flac_bytes(
          (codes.astype(np.int16) - 128) * 256, "PCM_S8"))
      for key, value in _general_purpose(codes).items():
        totals.add(key, "bytes", value)
      # 16-bit PCM, exactly.
      (data, stats), enc = _timed(codec.compress_pcm, model, params, pcm,
                                  recipe=recipe, segments=16, with_stats=True)
      (out, _), dec = _timed(codec.decompress, model, params, data)
      if not np.array_equal(out[:, 0], pcm):
        raise AssertionError(f"{name}: the 16-bit round trip is not exact")
      for field, value in (("bytes", len(data)), ("encode_s", enc), ("decode_s", dec),
                           ("code_bits", stats.code_bits),
                           ("offset_bits", stats.offset_bits)):
        totals.add("pcm16|mix|16", field, value)
      flac, enc = _timed(_flac_pcm16, pcm)
      (back, _), dec = _timed(sf.read, io.BytesIO(flac), dtype="int16")
      if not np.array_equal(back, pcm):
        raise AssertionError("FLAC did not round-trip exactly")
      for field, value in (("bytes", len(flac)), ("encode_s", enc), ("decode_s", dec)):
        totals.add("pcm16|flac", field, value)
      for label, (encode_cmd, decode_cmd, ext) in _TOOLS.items():
        out = _tool(pcm[:, None], encode_cmd, decode_cmd, ext, tmp)
        for i, field in enumerate(("bytes", "encode_s", "decode_s")):
          totals.add("pcm16|" + label, field, None if out is None else out[i])
      totals.add("pcm16|xz", "bytes", len(lzma.compress(
          pcm.astype("<i2").tobytes(), preset=9 | lzma.PRESET_EXTREME)))
      log({"file": name, "samples": len(codes),
           "bits_per_sample": {f"{p} {n}": v for (p, n), v in per_file.items()}})
  bps = lambda nbytes, per: None if nbytes is None else 8 * nbytes / samples / per
  speed = lambda row, field: (None if row.get(field) is None
                              else samples / row[field])
  codes_rows, pcm_rows = [], []
  for predictor, n in runs:
    row = totals[f"codes|{predictor}|{n}"]
    label = {"mix": "codec, the mix", "model": "codec, the model alone",
             "linear": "codec, linear prediction alone"}[predictor]
    out = {"method": f"{label}, {n} segment{'s' * (n > 1)}",
           "bits_per_sample": bps(row["bytes"], 1),
           "encode_samples_per_s": speed(row, "encode_s"),
           "decode_samples_per_s": speed(row, "decode_s")}
    if "nll_bits" in row:
      out["nll_bits_per_sample"] = row["nll_bits"] / samples
    codes_rows.append(out)
  for key, label in (("flac_8bit", "FLAC -8 of the codes as 8-bit PCM"),
                     ("xz", "xz -9e of the code bytes"),
                     ("zstd", "zstd --ultra -22 of the code bytes"),
                     ("gzip", "gzip -9 of the code bytes")):
    codes_rows.append({"method": label,
                       "bits_per_sample": bps(totals[key]["bytes"], 1)})
  row = totals["pcm16|mix|16"]
  pcm_rows.append({"method": "codec, lossless 16-bit, the mix, 16 segments",
                   "bits_per_sample": bps(row["bytes"], 1),
                   "code_bits_per_sample": row["code_bits"] / samples,
                   "offset_bits_per_sample": row["offset_bits"] / samples,
                   "encode_samples_per_s": speed(row, "encode_s"),
                   "decode_samples_per_s": speed(row, "decode_s")})
  for key, label in (("pcm16|flac", "FLAC -8"),
                     *((f"pcm16|{t}", t) for t in _TOOLS),
                     ("pcm16|xz", "xz -9e of the PCM bytes")):
    row = totals[key]
    pcm_rows.append({"method": label, "bits_per_sample": bps(row["bytes"], 1),
                     **{f"{side}_samples_per_s": speed(row, f"{side}_s")
                        for side in ("encode", "decode") if f"{side}_s" in row}})
  mix_margin = {"files": len(excess),
                "files_above_best": int(np.sum(np.asarray(excess) > 0)),
                "worst_excess_bits_per_sample": float(max(excess)) if excess else None}
  return samples, codes_rows, pcm_rows, mix_margin


def run(*, workdir: str, splits: tuple[str, ...] = ("test", "test_seen_timbres"),
        seconds_per_file: float = 2.0, step: int | None = None, log=print) -> dict:
  """One table per split and mode: bits per sample of every method, speeds."""
  run = open_run(workdir, step)
  model, params, step, recipe = run.model, run.params, run.step, run.recipe
  dataset_dir = run.dataset_dir
  limit = int(seconds_per_file * SAMPLE_RATE)
  result = {"workdir": workdir, "step": step, "model": model.name, "recipe": recipe,
            "seconds_per_file": seconds_per_file, "mixing": Mixing().to_json(),
            "splits": {}}
  # Warm-up: compile every function on one file, untimed.
  warm_pcm = pipeline.FlatSplit(dataset_dir, splits[0], recipes.RAW).file(0)[:limit]
  warm = recipes.codes(warm_pcm, recipe)
  for predictor, n in _CODES_RUNS:
    mixing = Mixing(predictor=predictor)
    codec.decompress(model, params, codec.compress(model, params, warm, segments=n,
                                                   mixing=mixing))
  codec.decompress(model, params, codec.compress_pcm(model, params, warm_pcm,
                                                     recipe=recipe, segments=16))
  for split in splits:
    flat = pipeline.FlatSplit(dataset_dir, split, recipes.RAW)
    pcms = [flat.file(i)[:limit] for i in range(len(flat.names))]
    files = [recipes.codes(p, recipe) for p in pcms]
    samples, codes_rows, pcm_rows, margin = _split_rows(
        model, params, flat.names, files, pcms, recipe, _CODES_RUNS, log)
    result["splits"][split] = {"files": len(files), "samples": samples,
                               "rows": codes_rows, "pcm16_rows": pcm_rows,
                               "mix_margin": margin}
    log({"split": split, "rows": codes_rows, "pcm16_rows": pcm_rows,
         "mix_margin": margin})
  return result
