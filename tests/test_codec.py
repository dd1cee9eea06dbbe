"""The codec: exact round trips for every family, the escape, the errors, the size.

Most tests use a tiny model with a sharpened head (its logits x 12), so its
distributions are peaked like a trained model's and the rANS path, not the verbatim
escape, carries the codes; `test_streams_round_trip_every_family` runs the rANS
path itself for every family.
"""

import os
import struct
import zlib

import jax
import numpy as np
import pytest

from audiolm_jax import codec
from audiolm_jax.codec import __main__ as codec_cli
from audiolm_jax.codec import container, streams
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


@pytest.mark.parametrize("case", sorted(FAMILY_CASES))
def test_streams_round_trip_every_family(np_rng, case):
  model, params = family_case(case)
  codes = np.asarray(random_codes(np_rng, 1, 301)[0], np.uint8)
  layout = streams.Layout.split(len(codes), 3)  # 101 + 100 + 100
  states, coded, bits = streams.encode(model, params, layout, codes)
  out = streams.decode(model, params, layout, states, coded, [None] * 3)
  np.testing.assert_array_equal(out, codes)
  for size, info in zip(map(len, coded), bits):  # rANS costs what the model says
    assert info - 32 <= 8 * size <= info + 8


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
  # Codes the model finds unlikely would cost ~16 bits each: stored verbatim.
  assert set(_modes(codec.compress(model, params, clipped, segments=4))) == {
      container.VERBATIM}


def test_compressed_size_is_the_models_cross_entropy(sharp):
  model, params, codes = sharp
  logits = jax.jit(lambda p, c: model.logits(p, c, num_targets=c.shape[1]))(
      params, codes[None].astype(np.int32))[0]
  nll = -np.asarray(jax.nn.log_softmax(logits))[np.arange(len(codes)), codes]
  bits = float(np.sum(nll) / np.log(2) / len(codes))
  assert 0.3 < bits < 6.0  # peaked, not trivial
  data = codec.compress(model, params, codes, segments=1)
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
  forged = zlib.compress(text.replace(header.codes_sha256.encode(), b"0" * 32))
  body = data[:5] + struct.pack("<I", len(forged)) + forged + data[9 + size:-4]
  with pytest.raises(codec.CodecFileError, match="fail their checksum; this machine "
                     "computes the model's probabilities differently"):
    codec.decompress(model, params, _recrc(body))
  # A flipped payload byte under a valid CRC: the stream does not end cleanly.
  tampered = bytearray(data[:-4])
  tampered[-50] ^= 0x40
  with pytest.raises(codec.CodecFileError, match="did not decode|fail their checksum"):
    codec.decompress(model, params, _recrc(bytes(tampered)))


def test_cli_round_trip_of_a_folder(tmp_path, tiny_run, capsys):
  """Real audio (the tiny set's piano, WAV and FLAC), an unreadable file, a folder
  in and out; the decoded WAVs hold exactly the codes of the inputs."""
  workdir, recipe, piano = tiny_run
  src = tmp_path / "in"
  (src / "sub").mkdir(parents=True)
  audio_io.write_wav(src / "piano.wav", piano[:7001])
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  sf.write(src / "sub" / "quiet.flac", 0.1 * piano[7001:12000], 16000)
  (src / "broken.wav").write_bytes(b"RIFF....WAVEfmt ")
  out, back = tmp_path / "coded", tmp_path / "back"
  assert codec_cli.main(["encode", f"--workdir={workdir}", "--segments=3", str(src),
                         str(out)]) == 0
  printed = capsys.readouterr().out
  assert "skipped broken.wav: not a readable audio file" in printed
  assert "8-bit codes SNR" in printed and "total: 2 files" in printed
  assert codec_cli.main(["decode", f"--workdir={workdir}", str(out), str(back)]) == 0
  for name in ("piano", os.path.join("sub", "quiet")):
    ext = ".wav" if name == "piano" else ".flac"
    original = recipes.codes(recipes.to_pcm16(audio_io.load_audio(
        src / (name + ext))), recipe)
    decoded = recipes.codes(recipes.to_pcm16(audio_io.load_audio(
        back / (name + ".wav"))), recipe)
    np.testing.assert_array_equal(decoded, original)
  # A wrong step's model: an error, and no output written.
  capsys.readouterr()
  assert codec_cli.main(["decode", f"--workdir={workdir}", "--step=10",
                         str(out / "piano.alc"), str(tmp_path / "x.wav")]) == 2
  assert "encoded with another model" in capsys.readouterr().err
  assert not (tmp_path / "x.wav").exists()
  assert not [f for f in os.listdir(tmp_path) if f.endswith(".partial")]
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
