"""The waveform + spectrogram PNG of `sample` for clips of any length."""

import warnings

import numpy as np
import pytest

from audiolm_jax.generation.plots import waveform_and_spectrogram


@pytest.mark.parametrize("length", [1, 2, 7, 8, 17, 320, 512, 8_000])
def test_png_for_short_and_long_clips_without_warnings(tmp_path, length):
  # A 320-sample clip (a 0.02 s sample) made matplotlib warn that one zero-padded
  # 512-sample frame was all it could compute.
  audio = np.random.default_rng(length).uniform(-0.5, 0.5, length).astype(np.float32)
  path = tmp_path / "clip.png"
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    waveform_and_spectrogram(str(path), audio, prompt_samples=length // 2,
                             title="clip")
  assert path.stat().st_size > 1000
  assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
