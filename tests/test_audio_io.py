"""Every kind of user audio is converted correctly or rejected with a named reason."""

import numpy as np
import pytest
import soundfile as sf

from audiolm_jax.codec import files
from audiolm_jax.data import audio_io

# Both readers of user audio: the float one everything uses, and the codec's exact
# 16-bit one; a damaged file gets the same reason from either.
READERS = pytest.mark.parametrize("read", [audio_io.load_audio, files.read_pcm16],
                                  ids=["load_audio", "read_pcm16"])


def _tone(rate, seconds=0.25, freq=440.0, channels=1, amp=0.5):
  t = np.arange(int(rate * seconds)) / rate
  x = amp * np.sin(2 * np.pi * freq * t)
  return np.stack([x] * channels, axis=1) if channels > 1 else x


def _peak_hz(x, rate=16_000):
  spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
  return np.argmax(spectrum) * rate / len(x)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT",
                                     "DOUBLE"])
def test_wav_formats_decode_to_the_same_tone(tmp_path, subtype):
  path = tmp_path / f"tone_{subtype}.wav"
  sf.write(path, _tone(16_000), 16_000, subtype=subtype)
  audio = audio_io.load_audio(path)
  assert audio.dtype == np.float32 and audio.shape == (4000,)
  tol = 0.02 if subtype == "PCM_U8" else 1e-3
  np.testing.assert_allclose(audio, _tone(16_000), atol=tol)


@pytest.mark.parametrize("rate", [8_000, 11_025, 22_050, 44_100, 48_000, 96_000])
def test_rates_are_resampled_to_16k(tmp_path, rate):
  path = tmp_path / "tone.wav"
  sf.write(path, _tone(rate, freq=1000.0), rate, subtype="PCM_16")
  audio = audio_io.load_audio(path)
  assert abs(len(audio) - 4000) <= 1
  assert abs(_peak_hz(audio) - 1000.0) < 8
  assert 0.45 < np.abs(audio[200:-200]).max() < 0.55


@pytest.mark.parametrize("fmt", ["flac", "ogg"])
def test_flac_and_ogg(tmp_path, fmt):
  path = tmp_path / f"tone.{fmt}"
  sf.write(path, _tone(22_050, freq=660.0), 22_050)
  audio = audio_io.load_audio(path)
  assert abs(_peak_hz(audio) - 660.0) < 8


@pytest.mark.parametrize("channels", [2, 3, 6])
def test_channels_are_averaged(tmp_path, channels):
  x = _tone(16_000, channels=channels)
  x[:, 0] *= 0.5  # channels differ: the mean is not any single one
  path = tmp_path / "multi.wav"
  sf.write(path, x, 16_000, subtype="FLOAT")
  np.testing.assert_allclose(audio_io.load_audio(path), x.mean(1), atol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_wav_is_rejected(tmp_path, bad):
  x = _tone(16_000)
  x[100] = bad
  path = tmp_path / "bad.wav"
  sf.write(path, x, 16_000, subtype="FLOAT")
  with pytest.raises(audio_io.AudioFileError, match=r"bad\.wav: 1 NaN or infinite"):
    audio_io.load_audio(path)


@READERS
def test_empty_missing_corrupt_and_non_audio_files(tmp_path, read):
  (tmp_path / "empty.wav").write_bytes(b"")
  (tmp_path / "text.wav").write_text("this is not audio\n" * 50)
  sf.write(tmp_path / "zero.wav", np.zeros((0,)), 16_000)
  good = tmp_path / "good.wav"
  sf.write(good, _tone(16_000), 16_000, subtype="PCM_16")
  corrupt = tmp_path / "corrupt.wav"
  corrupt.write_bytes(b"RIFF" + good.read_bytes()[4:12] + b"\x00" * 200)
  cases = {"empty.wav": "empty file", "text.wav": "not a readable audio file",
           "zero.wav": "no audio samples", "missing.wav": "no such file",
           "corrupt.wav": "not a readable audio file"}
  for name, reason in cases.items():
    with pytest.raises(audio_io.AudioFileError, match=reason) as info:
      read(tmp_path / name)
    assert name in str(info.value)


@READERS
def test_truncated_wav_is_rejected(tmp_path, read):
  path = tmp_path / "cut.wav"
  sf.write(path, _tone(16_000, seconds=1.0), 16_000, subtype="PCM_16")
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])
  with pytest.raises(audio_io.AudioFileError, match=r"cut\.wav: truncated"):
    read(path)


@READERS
def test_rate_out_of_range_is_rejected(tmp_path, read):
  path = tmp_path / "slow.wav"
  sf.write(path, _tone(2_000), 2_000, subtype="PCM_16")
  with pytest.raises(audio_io.AudioFileError, match="sample rate 2000 Hz"):
    read(path)


def test_read_pcm16_returns_the_stored_samples_and_refuses_other_formats(tmp_path):
  pcm = (np.random.default_rng(0).integers(-32768, 32768, (3001, 2))).astype(np.int16)
  sf.write(tmp_path / "exact.wav", pcm, 16_000, subtype="PCM_16")
  np.testing.assert_array_equal(files.read_pcm16(tmp_path / "exact.wav"), pcm)
  sf.write(tmp_path / "deep.wav", _tone(16_000), 16_000, subtype="PCM_24")
  with pytest.raises(audio_io.AudioFileError, match=r"deep\.wav: .* PCM_24 at 16000"):
    files.read_pcm16(tmp_path / "deep.wav")
