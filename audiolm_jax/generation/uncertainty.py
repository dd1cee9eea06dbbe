"""How uncertain a model is along a stream, and the spectral flatness that implies.

For a stationary process, the geometric mean of the power spectrum equals the
variance of the best one-step linear prediction error (Kolmogorov-Szego), and a
Hann-windowed periodogram's geometric mean is e^-gamma (0.56) of it where its bins
are noise-like (each bin's power is exponentially distributed about the spectrum).
A frame's spectral flatness is therefore about

    e^-gamma * (one-step prediction error variance) / (the frame's power),

which gives white noise its 0.56. A stream a model samples from its own predictions
has, as prediction errors, exactly the variance of the distributions it drew from,
so its flatness is set by how uncertain the model is relative to the level:
`flatness_floor`. Scored along the recording's own continuation of a prompt, the same
number says how tonal a faithful sample from the model could be there at all; a
model whose floor lies 30x above the prompt's flatness cannot continue it tonally
without sharpening its distribution (temperature, nucleus) away from what it learned.

The same floor with the squared error of the distribution's mean in place of its
variance ("error_floor") is what the model's point prediction misses by. Along a
stream the model sampled the two agree in expectation; along a recording, a spread
above the error is a model less sure than it need be, and the linear-prediction
reference's error over the same stretch (`linear_prediction_error`) says what a
predictor fitted on nothing but the stream's past achieves there.

The amplitude is the decoded code (`quantization.decode`), so the variance is in
full-scale units squared whatever the quantization.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from audiolm_jax.data import quantization
from audiolm_jax.data.audio_io import SAMPLE_RATE
from audiolm_jax.evaluation.linear_prediction import LinearPredictor
from audiolm_jax.evaluation.scorer import Scorer
from audiolm_jax.generation import spectrum
from audiolm_jax.generation.sampler import SamplingOptions, sampling_logits
from audiolm_jax.models.interface import AudioModel

# exp(-Euler's gamma): the mean of log(power) of an exponential variable of mean 1,
# exponentiated. A noise-like periodogram's geometric mean over its arithmetic mean.
NOISE_FLATNESS = float(np.exp(-np.euler_gamma))


def predictive_moments(model: AudioModel, params, streams: Sequence[np.ndarray],
                       options: SamplingOptions = SamplingOptions(), *,
                       num_targets: int = 4096) -> list[tuple[np.ndarray, np.ndarray]]:
  """(variance float64[T], error float64[T]) per stream of codes [T]: at every
  position, the variance of the decoded amplitude under the distribution `sampler`
  would draw it from (the model's prediction from the codes before it, silence before
  the start, with `options`' temperature and nucleus applied; 0 for greedy decoding),
  and the squared error of that distribution's mean against the stream's own code.

  Along a stream drawn from those distributions the two agree in expectation; along
  another stream (a recording), error < variance says the model is less sure than
  its point prediction would allow."""
  table = jnp.asarray(quantization.decode_table(model.quantization), jnp.float32)

  def moments(logits, labels):
    p = jax.nn.softmax(sampling_logits(logits.astype(jnp.float32), options.temperature,
                                       options.top_p), axis=-1)
    mean = p @ table
    # E[(a - mean)^2], not E[a^2] - mean^2: no cancellation for a sharp distribution.
    variance = jnp.sum(p * jnp.square(table.reshape((1,) * mean.ndim + (-1,))
                                      - mean[..., None]), axis=-1)
    return jnp.stack([variance, jnp.square(table[labels] - mean)], axis=-1)

  scorer = Scorer(model, params, num_targets=num_targets, per_position=moments)
  out = scorer.score_files([np.asarray(c, np.uint8) for c in streams])
  return [(np.asarray(m[:, 0], np.float64), np.asarray(m[:, 1], np.float64))
          for m in out]


def predictive_variance(model: AudioModel, params, streams: Sequence[np.ndarray],
                        options: SamplingOptions = SamplingOptions(), *,
                        num_targets: int = 4096) -> list[np.ndarray]:
  """The variances of `predictive_moments`: float64[T] per stream of codes [T]."""
  return [v for v, _ in predictive_moments(model, params, streams, options,
                                           num_targets=num_targets)]


def flatness_floor(audio_T: np.ndarray, variance_T: np.ndarray,
                   rate: int = SAMPLE_RATE, frame_s: float = spectrum.FRAME_S) -> float:
  """The flatness a stream of float audio [T] has if its only unpredictable part is
  a prediction error of variance [T] per sample: per 64 ms frame (as
  `spectrum.frame_flatness` cuts them), e^-gamma times the Hann-weighted mean
  variance over the Hann-weighted power (each frame's mean removed); the median over
  frames. inf where a frame is silent."""
  audio, variance = np.asarray(audio_T, np.float64), np.asarray(variance_T, np.float64)
  if audio.shape != variance.shape:
    raise ValueError(f"audio {audio.shape} and variance {variance.shape} differ")
  n = int(frame_s * rate)
  frames = len(audio) // n
  if frames == 0:
    raise ValueError(f"{len(audio)} samples hold no {frame_s * 1e3:g} ms frame")
  x = audio[:frames * n].reshape(frames, n)
  w2 = np.square(np.hanning(n))
  power = np.square(x - x.mean(axis=-1, keepdims=True)) @ w2
  error = variance[:frames * n].reshape(frames, n) @ w2
  with np.errstate(divide="ignore", invalid="ignore"):
    ratio = np.where(power > 0, NOISE_FLATNESS * error / power, np.inf)
  return float(np.median(ratio))


def _rms_dbfs(power_T: np.ndarray) -> float:
  mean = float(np.mean(power_T))
  return float(10 * np.log10(mean)) if mean > 0 else float("-inf")


def describe(model: AudioModel, params, streams: Sequence[np.ndarray], first: int,
             options: SamplingOptions = SamplingOptions()) -> list[dict[str, float]]:
  """Per stream of codes [T], over its positions first.. (each predicted from
  everything before it): "predictive_rms_dbfs", the RMS of the predictive spread in
  dBFS, and "flatness_floor", `flatness_floor` of that stretch; "error_rms_dbfs" and
  "error_floor", the same two for the squared error of the distribution's mean (the
  floor the model's point prediction would set)."""
  out = []
  for codes, (variance, error) in zip(streams, predictive_moments(model, params, streams,
                                                                  options)):
    audio = quantization.decode(np.asarray(codes)[first:], model.quantization)
    out.append({"predictive_rms_dbfs": _rms_dbfs(variance[first:]),
                "flatness_floor": flatness_floor(audio, variance[first:]),
                "error_rms_dbfs": _rms_dbfs(error[first:]),
                "error_floor": flatness_floor(audio, error[first:])})
  return out


def linear_prediction_error(codes_T: np.ndarray, first: int,
                            kind: str = "mu_law") -> dict[str, float]:
  """{"error_rms_dbfs", "error_floor"} of the linear-prediction reference
  (`evaluation/linear_prediction.py`, order 32, refitted every 250 samples on the
  1,000 before) over codes [T]'s positions first..: what a predictor fitted on
  nothing but the stream's own past misses by, the yardstick for a model's
  "error_floor" on the same stretch."""
  codes = np.asarray(codes_T)
  audio = quantization.decode(codes, kind)
  error = np.square(audio[first:] - LinearPredictor(kind=kind).predictions(codes, first))
  return {"error_rms_dbfs": _rms_dbfs(error),
          "error_floor": flatness_floor(audio[first:], error)}
