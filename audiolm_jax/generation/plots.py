"""Waveform-plus-spectrogram pictures of generated audio (matplotlib, no display)."""

from __future__ import annotations

import numpy as np

from audiolm_jax.data.audio_io import SAMPLE_RATE

_MIN_SPECTROGRAM_SAMPLES = 8  # frames of at least 4 samples


def waveform_and_spectrogram(path: str, audio: np.ndarray, rate: int = SAMPLE_RATE, *,
                             prompt_samples: int = 0, title: str = "") -> None:
  """Writes a PNG: the waveform above its spectrogram, the prompt shaded grey."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  t = np.arange(len(audio)) / rate
  fig, (ax_wave, ax_spec) = plt.subplots(2, 1, figsize=(10, 5), sharex=True,
                                         constrained_layout=True)
  ax_wave.plot(t, audio, linewidth=0.4, color="tab:blue")
  ax_wave.set_ylim(-1, 1)
  ax_wave.set_ylabel("amplitude")
  if len(audio) >= _MIN_SPECTROGRAM_SAMPLES:
    # 32 ms frames; a clip of 512 samples or fewer gets the longest power-of-two
    # frame shorter than itself (matplotlib would zero-pad one frame and warn).
    nfft = min(512, 1 << int(np.log2(len(audio) - 1)))
    ax_spec.specgram(audio + 1e-7, NFFT=nfft, Fs=rate, noverlap=nfft * 3 // 4,
                     cmap="magma")
  else:  # a 1- or 2-bin frame has no spectrum worth drawing (and matplotlib warns)
    ax_spec.text(0.5, 0.5, f"{len(audio)} samples: too short for a spectrogram",
                 ha="center", va="center", transform=ax_spec.transAxes)
  ax_spec.set_ylabel("Hz")
  ax_spec.set_xlabel("seconds")
  if prompt_samples:
    for ax in (ax_wave, ax_spec):
      ax.axvspan(0, prompt_samples / rate, color="grey", alpha=0.25, label="prompt")
      ax.axvline(prompt_samples / rate, color="white" if ax is ax_spec else "k",
                 linewidth=1)
    ax_wave.legend(loc="upper right")
  ax_wave.set_title(title)
  fig.savefig(path, dpi=100)
  plt.close(fig)
