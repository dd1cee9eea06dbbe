"""The codec against general-purpose and audio compressors, on one run's test data.

For each split (by default the held-out piano, `test`, and the training pianos,
`test_seen_timbres`), on the first `seconds_per_file` of every file, in bits per
sample of the 8-bit codes:
* the codec with the run's model, at each --codec_segments (file bytes, header
  included), its payload alone, and the model's NLL on exactly the segments coded
  (each from silence): the payload exceeds the NLL by the frequency quantization
  and rANS's 4 bytes a segment only;
* the linear-prediction reference's distributions through the same rANS coder (its
  real bytes, decoded back with the same frequencies), beside its NLL;
* FLAC (libFLAC via soundfile, compression level 8) of the 8-bit codes as 8-bit PCM
  and of the 16-bit signal the codes decode to; xz, zstd and gzip at their highest
  levels on the code bytes;
and the codec's encode and decode speed in samples per second (after a warm-up file
that compiles every function).
"""

from __future__ import annotations

import gzip
import io
import lzma
import shutil
import subprocess
import time

import jax
import jax.numpy as jnp
import numpy as np
import soundfile as sf

from audiolm_jax import codec
from audiolm_jax.codec import rans, streams
from audiolm_jax.data import pipeline, quantization, recipes
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.evaluation.linear_prediction import LinearPredictor
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


@jax.jit
def _frequencies_of(log_probs_TxV):
  return rans.frequencies(log_probs_TxV)


def _coded_with_distributions(log2_probs_TxV: np.ndarray, codes: np.ndarray) -> int:
  """Bytes of `codes` rANS-coded under given per-position distributions (the final
  state included), checked by decoding them back with the same frequencies."""
  freq = np.asarray(_frequencies_of(jnp.asarray(log2_probs_TxV * np.log(2.0),
                                                jnp.float32)))
  index = np.arange(len(codes))
  f = freq[index, codes]
  start = np.cumsum(freq, axis=1)[index, codes] - f
  x, ordered, count = rans.encode_streams(jnp.asarray(start[None]),
                                          jnp.asarray(f[None]),
                                          jnp.ones((1, len(codes)), bool))
  stream = rans.stream_bytes(ordered, count)[0]
  _check_decodes(freq, codes, int(x[0]), stream)
  return 4 + len(stream)


@jax.jit
def _decode_with_frequencies(freq_TxV, x, data):
  """Decodes one stream with given per-step frequencies: (codes [T], final state)."""

  def step(carry, f_V):
    x, at = carry
    window = jax.lax.dynamic_slice(data, (at,), (2,))
    symbol, x, read = rans.decode_step(f_V[None], x[None], window[None])
    return (x[0], at + read[0]), symbol[0]

  (x_end, _), decoded = jax.lax.scan(step, (x, jnp.int32(0)), freq_TxV)
  return decoded, x_end


def _check_decodes(freq, codes, x, stream: bytes) -> None:
  padded = np.zeros(2 * len(codes) + 2, np.uint8)  # one shape per file length
  padded[:len(stream)] = np.frombuffer(stream, np.uint8)
  decoded, x_end = _decode_with_frequencies(jnp.asarray(freq), jnp.uint32(x),
                                            jnp.asarray(padded))
  if not (np.array_equal(np.asarray(decoded), codes) and int(x_end) == rans.LOWER):
    raise AssertionError("the reference's rANS stream did not decode back")


def _model_nll_bits(scorer: Scorer, layout: streams.Layout, codes) -> float:
  """The model's NLL (bits, summed) of the codes, segment by segment from silence:
  each segment scored as a file of its own."""
  begins = np.cumsum((0,) + layout.lengths[:-1])
  segments = [codes[b:b + n] for b, n in zip(begins, layout.lengths)]
  return float(sum(np.sum(x, dtype=np.float64) for x in scorer.score_files(segments)))


def _split_rows(model, params, names, files, recipe, segment_counts, log):
  kind = recipes.quantization_of(recipe)
  sizes = {f"codec_{n}": 0 for n in segment_counts}
  sizes.update({f"payload_{n}": 0 for n in segment_counts})
  nll = {n: 0.0 for n in segment_counts}
  speed = {n: {"encode_s": 0.0, "decode_s": 0.0} for n in segment_counts}
  other = {"linear_prediction": 0, "flac_8bit": 0, "flac_16bit_decoded": 0,
           "xz": 0, "gzip": 0, "zstd": 0}
  lp_nll = 0.0
  predictor = LinearPredictor(kind)
  scorer = Scorer(model, params, num_targets=4096, batch=4)
  samples = 0
  for name, codes in zip(names, files):
    samples += len(codes)
    for n in segment_counts:
      start = time.perf_counter()
      data = codec.compress(model, params, codes, segments=n, recipe=recipe)
      speed[n]["encode_s"] += time.perf_counter() - start
      start = time.perf_counter()
      out, header = codec.decompress(model, params, data)
      speed[n]["decode_s"] += time.perf_counter() - start
      if not np.array_equal(out, codes):
        raise AssertionError(f"{name}: the codec's round trip is not exact")
      sizes[f"codec_{n}"] += len(data)
      sizes[f"payload_{n}"] += sum(size for _, _, size in header.segments)
      nll[n] += _model_nll_bits(scorer, streams.Layout.split(len(codes), n), codes)
    log2_probs = predictor.log2_probs(codes)
    other["linear_prediction"] += _coded_with_distributions(log2_probs, codes)
    lp_nll += float(predictor.bits(codes).sum())
    other["flac_8bit"] += _flac_bytes(
        (codes.astype(np.int16) - 128) * 256, "PCM_S8")
    other["flac_16bit_decoded"] += _flac_bytes(
        recipes.to_pcm16(quantization.bin_centres(codes, kind)), "PCM_16")
    for key, value in _general_purpose(codes).items():
      other[key] = None if value is None or other[key] is None else other[key] + value
    log({"file": name, "samples": len(codes), **sizes})
  bps = lambda nbytes: None if nbytes is None else 8 * nbytes / samples
  rows = []
  for n in segment_counts:
    rows.append({"method": f"codec, {n} segment{'s' * (n > 1)}",
                 "bits_per_sample": bps(sizes[f"codec_{n}"]),
                 "payload_bits_per_sample": bps(sizes[f"payload_{n}"]),
                 "nll_bits_per_sample": nll[n] / samples,
                 "encode_samples_per_s": samples / speed[n]["encode_s"],
                 "decode_samples_per_s": samples / speed[n]["decode_s"]})
  rows.append({"method": "linear prediction, same rANS coder",
               "bits_per_sample": bps(other["linear_prediction"]),
               "nll_bits_per_sample": lp_nll / samples})
  for key, label in (("flac_8bit", "FLAC -8 of the 8-bit codes"),
                     ("flac_16bit_decoded", "FLAC -8 of the 16-bit decoded signal"),
                     ("xz", "xz -9e of the code bytes"),
                     ("zstd", "zstd --ultra -22 of the code bytes"),
                     ("gzip", "gzip -9 of the code bytes")):
    rows.append({"method": label, "bits_per_sample": bps(other[key])})
  return samples, rows


def run(*, workdir: str, splits: tuple[str, ...] = ("test", "test_seen_timbres"),
        seconds_per_file: float = 2.0, segment_counts: tuple[int, ...] = (1, 16),
        step: int | None = None, log=print) -> dict:
  """One table per split: bits per sample of every method, the codec's speed."""
  run = open_run(workdir, step)
  model, params, step, recipe = run.model, run.params, run.step, run.recipe
  dataset_dir = run.dataset_dir
  limit = int(seconds_per_file * SAMPLE_RATE)
  result = {"workdir": workdir, "step": step, "model": model.name, "recipe": recipe,
            "seconds_per_file": seconds_per_file, "splits": {}}
  # Warm-up: compile every function on one file, untimed.
  warm = pipeline.FlatSplit(dataset_dir, splits[0], recipe).file(0)[:limit]
  for n in segment_counts:
    codec.decompress(model, params, codec.compress(model, params, warm, segments=n))
  for split in splits:
    flat = pipeline.FlatSplit(dataset_dir, split, recipe)
    files = [flat.file(i)[:limit] for i in range(len(flat.names))]
    samples, rows = _split_rows(model, params, flat.names, files, recipe,
                                segment_counts, log)
    result["splits"][split] = {"files": len(files), "samples": samples,
                               "rows": rows}
    log({"split": split, "rows": rows})
  return result
