"""The codec: exact round trips for every family and both modes, the mix's bound,
the escape, the errors (damaged and crafted files), the size.

Most tests use a tiny model with a sharpened head (its logits x 6), so its
distributions are peaked like a trained model's and the rANS path, not the verbatim
escape, carries the codes; `test_streams_round_trip_every_family` runs the rANS
path itself for every family, in both modes, on trained-like parameters.
"""

import os
import struct
import zlib

import jax
import numpy as np
import pytest

from audiolm_jax import codec
from audiolm_jax.codec import __main__ as codec_cli
from audiolm_jax.codec import compression, container, streams
from audiolm_jax.codec.mixing import Mixing
from audiolm_jax.data import audio_io, quantization, recipes
from audiolm_jax.generation import sampler
from helpers import CONFIGS, FAMILY_CASES, family_case, make_family, random_codes


@pytest.fixture(scope="module")
def sharp():
  """The tiny model with peaked distributions, and 6,000 codes sampled from it."""
  model, params = make_family(CONFIGS["tiny"], seed=2)
  head = params["head"]["logits"]
  params = {**params, "head": {**params["head"], "logits": {
      "kernel": head["kernel"] * 6.0, "bias": head["bias"] * 6.0}}}
  codes = sampler.generate(model, params, jax.random.key(0), num_samples=6000,
                           batch=1, block=2000)[0].astype(np.uint8)
  return model, params, codes


def _modes(data):
  return [mode for _, mode, _ in codec.read_header(data).segments]


def _piano_like(length: int, seed: int = 0, channels: int = 1) -> np.ndarray:
  """int16 [T, C]: decaying partials with a little noise (a note's shape)."""
  rng = np.random.default_rng(seed)
  t = np.arange(length)[:, None] / audio_io.SAMPLE_RATE
  f0 = 220.0 * (1 + np.arange(channels))[None, :]
  audio = sum(0.25 / k * np.sin(2 * np.pi * k * f0 * t + k) for k in (1, 2, 3))
  audio = audio * np.exp(-2 * t) + 0.002 * rng.standard_normal((length, channels))
  return recipes.to_pcm16(audio)


@pytest.mark.parametrize("mode", ["codes", "pcm16"])
@pytest.mark.parametrize("case", sorted(FAMILY_CASES))
def test_streams_round_trip_every_family(np_rng, case, mode):
  """Both modes, the mix (model and linear prediction), segments of odd lengths."""
  model, params = family_case(case)
  coding = streams.Coding(mode, model.quantization)
  if mode == "codes":
    samples = np.asarray(random_codes(np_rng, 1, 301)[0])
  else:
    samples = _piano_like(301, seed=1)[:, 0].astype(np.int32)
  layout = streams.Layout.split(len(samples), 3)  # 101 + 100 + 100
  states, coded, bits = streams.encode(model, coding, params, layout, samples)
  out = np.zeros(len(samples), np.int64)
  firsts = np.cumsum((0,) + layout.lengths[:-1])

  def sink(segment, begin, values):
    out[firsts[segment] + begin:firsts[segment] + begin + len(values)] = values

  streams.decode(model, coding, params, layout, states, coded, [None] * 3, sink)
  np.testing.assert_array_equal(out, samples)
  for size, info in zip(map(len, coded), bits.sum(1)):  # costs what it predicts
    assert info - 32 <= 8 * size <= info + 8


def test_pcm16_round_trips_bit_for_bit(sharp):
  """Stereo and mono, odd lengths, silence, full-scale noise, hard clipping: the
  decoded PCM equals the input's, and no file grows past raw PCM plus its header."""
  model, params, _ = sharp
  rng = np.random.default_rng(5)
  t = np.arange(3001) / audio_io.SAMPLE_RATE
  clipped = recipes.to_pcm16(3.0 * np.sin(2 * np.pi * 220 * t))
  cases = {  # three compiled shapes: [6 rows, 1024 steps], [3, 1024], [3, 4]
      "stereo, 4001": _piano_like(4001, channels=2),
      "mono, 7": _piano_like(7),
      "silence": np.zeros((3000, 1), np.int16),
      "full-scale noise": rng.integers(-32768, 32768, (3000, 1)).astype(np.int16),
      "clipped": clipped[:, None],
      "empty": np.zeros((0, 1), np.int16),
  }
  coded = {}
  for name, pcm in cases.items():
    coded[name] = data = codec.compress_pcm(model, params, pcm, recipe="mu_law",
                                            segments=3)
    out, header = codec.decompress(model, params, data)
    np.testing.assert_array_equal(out, pcm, err_msg=name)
    assert out.dtype == np.int16 and header.mode == "pcm16"
    assert Mixing.from_json(header.mixing).linear.white_noise == 1e-6  # the mode's
    payload = sum(size for _, _, size in header.segments)
    assert payload <= 2 * pcm.size, name
  # White noise cannot be predicted: stored as PCM. A note codes well below 16 bits.
  assert set(_modes(coded["full-scale noise"])) == {container.VERBATIM}
  assert 8 * len(coded["stereo, 4001"]) / cases["stereo, 4001"].size < 11
  silence = sum(size for _, _, size in codec.read_header(coded["silence"]).segments)
  assert 8 * silence / 3000 < 0.1


def test_pcm16_refuses_what_it_cannot_store_exactly(sharp):
  model, params, _ = sharp
  with pytest.raises(ValueError, match="scales every chunk"):
    codec.compress_pcm(model, params, _piano_like(100), recipe="sashimi")
  with pytest.raises(ValueError, match="int16 PCM; got float32"):
    codec.compress_pcm(model, params, np.zeros(10, np.float32), recipe="mu_law")
  with pytest.raises(ValueError, match="makes linear codes"):
    codec.compress_pcm(model, params, _piano_like(100), recipe="linear")


def _bits(model, params, samples, predictor, pcm=False, segments=1):
  mixing = Mixing(predictor=predictor)
  if pcm:
    return 8 * len(codec.compress_pcm(model, params, samples, recipe="mu_law",
                                      segments=segments, mixing=mixing))
  return 8 * len(codec.compress(model, params, samples, segments=segments,
                                mixing=mixing))


def test_the_mix_beats_both_members_and_is_bounded_by_the_best(sharp):
  """A file that is the model's own samples, then a piano-like note: the model
  predicts the first half, linear prediction the second. The mix codes the whole
  below both, and on each half within the fixed-share bound of the better member."""
  model, params, sampled = sharp
  note = recipes.codes(_piano_like(4000)[:, 0], "mu_law")
  both = np.concatenate([sampled[:4000], note])
  bits = {p: _bits(model, params, both, p) for p in ("model", "linear", "mix")}
  assert bits["mix"] < min(bits["model"], bits["linear"]), bits
  share = Mixing().share
  for part in (sampled[:4000], note):
    members = [_bits(model, params, part, p) for p in ("model", "linear")]
    bound = np.log2(3) - len(part) * np.log2(1 - share) + 0.01 * len(part)
    assert _bits(model, params, part, "mix") <= min(members) + bound


def test_each_predictor_round_trips_and_the_header_records_it(sharp):
  model, params, codes = sharp
  for predictor in ("model", "linear", "mix"):
    data = codec.compress(model, params, codes[:1500], segments=2,
                          mixing=Mixing(predictor=predictor))
    out, header = codec.decompress(model, params, data)
    np.testing.assert_array_equal(out, codes[:1500])
    assert Mixing.from_json(header.mixing).predictor == predictor
  # Linear prediction alone does not need the encoder's model to decode.
  other = make_family(CONFIGS["tiny"], seed=3)
  data = codec.compress(model, params, codes[:500], mixing=Mixing(predictor="linear"))
  np.testing.assert_array_equal(codec.decompress(*other, data)[0], codes[:500])


@pytest.mark.parametrize("length,segments", [(0, 1), (1, 1), (1, 4), (2, 3), (7, 3),
                                             (1001, 4), (1001, 16)])
def test_round_trip_of_any_length_and_layout(sharp, length, segments):
  model, params, codes = sharp
  data = codec.compress(model, params, codes[:length], segments=segments)
  out, header = codec.decompress(model, params, data)
  np.testing.assert_array_equal(out, codes[:length])
  assert header.num_samples == length
  assert len(header.segments) == (min(segments, length) if length else 0)
  assert sum(s[0] for s in header.segments) == length
  if length // segments > 200:  # long segments code below their raw bytes
    assert set(_modes(data)) == {container.RANS}


def test_silence_and_a_hard_clipped_file_round_trip_and_never_grow(sharp):
  model, params, _ = sharp
  silence = np.full(3000, model.silence, np.uint8)
  t = np.arange(4000) / audio_io.SAMPLE_RATE
  clipped = recipes.codes(recipes.to_pcm16(3.0 * np.sin(2 * np.pi * 220 * t)),
                          "mu_law")
  assert np.mean((clipped == 0) | (clipped == 255)) > 0.5
  for codes in (silence, clipped):
    data = codec.compress(model, params, codes, segments=4)
    np.testing.assert_array_equal(codec.decompress(model, params, data)[0], codes)
    header = codec.read_header(data)
    payload = sum(size for _, _, size in header.segments)
    assert payload <= len(codes)  # never more than the raw codes
  # Codes the model finds unlikely would cost ~16 bits each: alone, it stores them
  # verbatim; mixed with linear prediction (which follows a clipped sine), rANS.
  assert set(_modes(codec.compress(model, params, clipped, segments=4, mixing=Mixing(
      predictor="model")))) == {container.VERBATIM}
  assert set(_modes(codec.compress(model, params, clipped, segments=4))) == {
      container.RANS}


def test_compressed_size_is_the_models_cross_entropy(sharp):
  model, params, codes = sharp
  logits = jax.jit(lambda p, c: model.logits(p, c, num_targets=c.shape[1]))(
      params, codes[None].astype(np.int32))[0]
  nll = -np.asarray(jax.nn.log_softmax(logits))[np.arange(len(codes)), codes]
  bits = float(np.sum(nll) / np.log(2) / len(codes))
  assert 0.3 < bits < 6.0  # peaked, not trivial
  data = codec.compress(model, params, codes, segments=1,
                        mixing=Mixing(predictor="model"))
  payload = sum(size for _, _, size in codec.read_header(data).segments)
  assert abs(8 * payload / len(codes) - bits) < 0.01, (8 * payload / len(codes),
                                                       bits)


def _recrc(body: bytes) -> bytes:
  return body + struct.pack("<I", zlib.crc32(body))


def test_damaged_files_and_another_model_are_named_errors(sharp):
  model, params, codes = sharp
  data = codec.compress(model, params, codes[:2000], segments=2)
  flipped = bytearray(data)
  flipped[len(data) // 2] ^= 0x01
  with pytest.raises(codec.CodecFileError, match="is corrupted: the CRC-32"):
    codec.decompress(model, params, bytes(flipped))
  with pytest.raises(codec.CodecFileError, match="is truncated"):
    codec.decompress(model, params, data[:-10])
  with pytest.raises(codec.CodecFileError, match="not an audiolm_jax codec file"):
    codec.decompress(model, params, b"RIFF" + data[4:])
  other = make_family(CONFIGS["tiny"], seed=3)
  with pytest.raises(codec.CodecFileError, match="encoded with another model"):
    codec.decompress(*other, data)
  # A decoder whose arithmetic differs decodes other codes: their hash fails. Here
  # the stored hash is altered instead (and the CRC recomputed), to the same effect.
  header = codec.read_header(data)
  size = struct.unpack_from("<I", data, 5)[0]
  text = zlib.decompress(data[9:9 + size])
  forged = zlib.compress(text.replace(header.samples_sha256.encode(), b"0" * 32))
  body = data[:5] + struct.pack("<I", len(forged)) + forged + data[9 + size:-4]
  with pytest.raises(codec.CodecFileError, match="fail their checksum; this machine "
                     "computes the probabilities differently"):
    codec.decompress(model, params, _recrc(body))
  # A flipped payload byte under a valid CRC: the stream does not end cleanly.
  tampered = bytearray(data[:-4])
  tampered[-50] ^= 0x40
  with pytest.raises(codec.CodecFileError, match="did not decode|fail their checksum"):
    codec.decompress(model, params, _recrc(bytes(tampered)))


def _with_header(data: bytes, edit, version=None, payload=None) -> bytes:
  """The file with its header JSON edited (and a valid CRC): a crafted file."""
  import json  # pylint: disable=g-import-not-at-top
  size = struct.unpack_from("<I", data, 5)[0]
  fields = json.loads(zlib.decompress(data[9:9 + size]))
  edit(fields)
  text = zlib.compress(json.dumps(fields).encode())
  body = (data[:4] + bytes([version or data[4]]) + struct.pack("<I", len(text))
          + text + (data[9 + size:-4] if payload is None else payload))
  return _recrc(body)


def test_crafted_headers_are_refused_before_decoding(sharp):
  """A valid CRC over lies: sizes no payload can hold, negative lengths, layouts
  that do not add up, another mode. Each is a named error, raised before anything
  the size of the claim is allocated."""
  model, params, codes = sharp
  data = codec.compress(model, params, codes[:3000], segments=2)
  huge = 10 ** 9

  def claim(fields):  # 16 segments of 10^9 samples, as a 5 KB file
    fields["num_samples"] = 16 * huge
    fields["segments"] = [[huge, "rans", 300]] * 16

  crafted = _with_header(data, claim, payload=bytes(16 * 300))
  assert len(crafted) < 6000
  with pytest.raises(codec.CodecFileError, match="claims 1,000,000,000 samples; its "
                     "300 bytes can hold at most"):
    codec.decompress(model, params, crafted)
  cases = {
      "a negative sample count": lambda f: f.update(num_samples=-5),
      "has length -1500": lambda f: f["segments"][0].__setitem__(0, -1500),
      "segments hold 3001 samples": lambda f: f["segments"][0].__setitem__(
          0, f["segments"][0][0] + 1),
      "unknown mode 'flac'": lambda f: f.update(mode="flac"),
      "0 channels": lambda f: f.update(channels=0),
  }
  for message, edit in cases.items():
    with pytest.raises(codec.CodecFileError, match=message):
      codec.decompress(model, params, _with_header(data, edit))
  # The other mode under a valid CRC: the streams do not decode as 16-bit PCM.
  with pytest.raises(codec.CodecFileError, match="did not decode|fail their checksum"
                     "|holds at most|verbatim segment"):
    codec.decompress(model, params, _with_header(data, lambda f: f.update(
        mode="pcm16")))


def test_max_samples_bounds_what_the_encoder_writes(sharp):
  """The bound is not loose in the encoder's favour: silence, the cheapest file
  there is, fits under it."""
  model, params, _ = sharp
  silence = np.full(20_000, model.silence, np.uint8)
  data = codec.compress(model, params, silence, mixing=Mixing(predictor="linear"))
  (length, mode, size), = codec.read_header(data).segments
  assert mode == container.RANS and length <= container.max_samples(size)
  assert container.max_samples(size) < 4 * length  # and it is not loose either


def test_version_1_files_still_decode(sharp):
  """A file in the previous format (the model alone; the codes' hash; no mode or
  mixing fields) decodes to its codes: its streams are the model-only streams."""
  model, params, codes = sharp
  data = codec.compress(model, params, codes[:2500], segments=2,
                        mixing=Mixing(predictor="model"))

  def as_version_1(fields):
    for key in ("mode", "channels", "mixing", "version"):
      del fields[key]
    del fields["samples_sha256"]
    fields["codes_sha256"] = container.codes_sha256(codes[:2500])

  old = _with_header(data, as_version_1, version=1)
  out, header = codec.decompress(model, params, old)
  np.testing.assert_array_equal(out, codes[:2500])
  assert header.version == 1
  with pytest.raises(codec.CodecFileError, match="format version 7; this version of "
                     "audiolm_jax reads versions"):
    codec.decompress(model, params, _with_header(data, lambda f: None, version=7))


def test_cli_round_trip_of_a_folder(tmp_path, tiny_run, capsys):
  """Real audio (the tiny set's piano) as 16-bit WAV and FLAC, stereo, a folder in
  and out: the decoded WAVs hold exactly the input's samples (the default mode);
  a 44.1 kHz file and an unreadable one are skipped with their reasons; --mode=codes
  stores the codes of any audio, and its WAVs quantize back to exactly them."""
  workdir, recipe, piano = tiny_run
  src = tmp_path / "in"
  (src / "sub").mkdir(parents=True)
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  audio_io.write_wav(src / "piano.wav", piano[:7001])
  stereo = np.stack([piano[7001:12000], 0.5 * piano[:4999]], axis=1)
  sf.write(src / "sub" / "stereo.flac", stereo, 16000, subtype="PCM_16")
  sf.write(src / "cd.wav", piano[:4410], 44100, subtype="PCM_16")
  (src / "broken.wav").write_bytes(b"RIFF....WAVEfmt ")
  out, back = tmp_path / "coded", tmp_path / "back"
  assert codec_cli.main(["encode", f"--workdir={workdir}", "--segments=3", str(src),
                         str(out)]) == 0
  printed = capsys.readouterr().out
  assert "skipped broken.wav: not a readable audio file" in printed
  assert ("skipped cd.wav: 16-bit lossless mode stores 16-bit PCM at 16000 Hz "
          "exactly; this file is PCM_16 at 44100 Hz") in printed
  assert "16-bit PCM, 2 channels, exact" in printed and "total: 2 files" in printed
  assert codec_cli.main(["decode", f"--workdir={workdir}", str(out), str(back)]) == 0
  for name, ext in (("piano", ".wav"), (os.path.join("sub", "stereo"), ".flac")):
    original, _ = sf.read(src / (name + ext), dtype="int16", always_2d=True)
    decoded, rate = sf.read(back / (name + ".wav"), dtype="int16", always_2d=True)
    assert rate == 16000
    np.testing.assert_array_equal(decoded, original)
  # 8-bit codes of any audio (the 44.1 kHz file included, resampled).
  codes_out, codes_back = tmp_path / "codes", tmp_path / "codes_back"
  assert codec_cli.main(["encode", f"--workdir={workdir}", "--mode=codes",
                         "--predictor=model", str(src / "cd.wav"),
                         str(codes_out / "cd.alc")]) == 0
  assert "8-bit codes, SNR" in capsys.readouterr().out
  assert codec_cli.main(["decode", f"--workdir={workdir}", str(codes_out),
                         str(codes_back)]) == 0
  original = recipes.codes(recipes.to_pcm16(audio_io.load_audio(src / "cd.wav")),
                           recipe)
  decoded = recipes.codes(recipes.to_pcm16(audio_io.load_audio(
      codes_back / "cd.wav")), recipe)
  np.testing.assert_array_equal(decoded, original)
  # A wrong step's model: an error, and no output written.
  capsys.readouterr()
  assert codec_cli.main(["decode", f"--workdir={workdir}", "--step=10",
                         str(out / "piano.alc"), str(tmp_path / "x.wav")]) == 2
  assert "encoded with another model" in capsys.readouterr().err
  assert not (tmp_path / "x.wav").exists()
  assert not [f for f in os.listdir(tmp_path) if f.endswith(".partial")]
  # A damaged file mid-stream: the error, and no partial WAV left behind.
  damaged = bytearray((out / "piano.alc").read_bytes()[:-4])
  damaged[-40] ^= 0x10
  (tmp_path / "damaged.alc").write_bytes(_recrc(bytes(damaged)))
  assert codec_cli.main(["decode", f"--workdir={workdir}",
                         str(tmp_path / "damaged.alc"), str(tmp_path / "d.wav")]) == 2
  assert not (tmp_path / "d.wav").exists()
  assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]
  umask = os.umask(0)
  os.umask(umask)
  for written in (out / "piano.alc", back / "piano.wav"):  # as open() would make it
    assert os.stat(written).st_mode & 0o777 == 0o666 & ~umask


def test_cli_usage_errors(capsys):
  assert codec_cli.main(["squash", "--workdir=/nonexistent", "a", "b"]) == 2
  assert "unknown command 'squash'" in capsys.readouterr().err
  assert codec_cli.main(["encode", "--workdir=/x", "a"]) == 2
  assert "expected 3 arguments" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_data_dir):
  """(workdir, recipe, a test-split recording) of a 20-step tiny run."""
  import ml_collections  # pylint: disable=g-import-not-at-top,unused-import
  from audiolm_jax.data import datasets, pipeline  # pylint: disable=g-import-not-at-top
  from audiolm_jax.training import loop  # pylint: disable=g-import-not-at-top
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location(
      "default_config", os.path.join(os.path.dirname(os.path.dirname(
          os.path.abspath(__file__))), "configs", "default.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("tiny")
  config.data.data_dir = tiny_data_dir
  config.num_steps, config.eval_every, config.checkpoint_every = 20, 0, 10
  workdir = str(tmp_path_factory.mktemp("codec_run"))
  loop.train_and_evaluate(config, workdir)
  path = datasets.dataset_dir(datasets.DatasetSpec(
      "music21_piano", variant="tiny", renderer="numpy"), tiny_data_dir)
  flat = pipeline.FlatSplit(path, "test", recipes.RAW)
  piano = recipes.from_pcm16(flat.file(0))
  return workdir, config.data.recipe, piano


@pytest.mark.parametrize("kind", ["mu_law", "linear"])
def test_bin_centres_quantize_back_to_their_codes(kind):
  codes = np.arange(256)
  pcm = recipes.to_pcm16(quantization.bin_centres(codes, kind))
  np.testing.assert_array_equal(quantization.encode(recipes.from_pcm16(pcm), kind),
                                codes)
