"""The scorers every protocol shares: per-position NLL of whole files with their
whole left context (`Scorer`), and of one target per context (`TargetScorer`)."""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from audiolm_jax.models.cost import flops_of
from audiolm_jax.models import objective
from audiolm_jax.models.interface import AudioModel
from audiolm_jax.padding import pad_rows


PerPosition = Callable[[jax.Array, jax.Array], jax.Array]


class Scorer:
  """Per-position NLL of whole files, every position with its whole left context.

  A bounded model (a left context of C codes) is scored through its dense path in
  batches of windows of C + K codes. A stateful model (unbounded context) runs over
  each file in consecutive segments of about K codes, its state carried from one to
  the next; an unbounded convolutional one (SaShiMi) runs over each file at once:
  either way every position sees the file's whole past. Windows of `eval_context` + K codes
  (the `sampled` protocol) use the dense path either way.

  `per_position(logits [B, K, V], labels [B, K]) -> [B, K, ...]` replaces the NLL in
  bits with any other per-position quantity of the predictive distribution (traced
  under jit; generation/uncertainty.py takes its variance).
  """

  def __init__(self, model: AudioModel, params, *, num_targets: int = 4096,
               batch: int = 4, per_position: PerPosition | None = None):
    self.model, self.params = model, params
    self.k, self.batch = num_targets, batch
    self._per_position = per_position or objective.nll_bits
    self.context = (model.left_context if model.left_context is not None
                    else model.eval_context)
    self.silence = model.silence
    self._step = jax.jit(self._window_values)
    if model.stateful:
      lookback = model.window_context
      self._segment = max(lookback, num_targets // lookback * lookback)
      self._carry_step = jax.jit(self._stateful_values)
    elif model.left_context is None:
      self._one_pass = jax.jit(self._one_pass_values)

  def _window_values(self, params, codes_BxW):
    logits, labels = objective.logits_and_labels(
        self.model, params, codes_BxW, objective="dense", num_targets=self.k,
        train=False, rng=None)
    return self._per_position(logits, labels)

  def _one_pass_values(self, params, codes_1xL):
    logits = self.model.logits(params, codes_1xL, num_targets=codes_1xL.shape[1])
    return self._per_position(logits, codes_1xL)[0]

  def _score_one_pass(self, codes: np.ndarray) -> np.ndarray:
    """An unbounded, non-recurrent model (SaShiMi's convolutions) over the whole
    file at once; lengths padded to a power of two (causal: the padding reaches no
    scored position) so files of similar length share one compilation."""
    n = len(codes)
    if n == 0:
      return np.zeros(0, np.float32)
    padded = np.full(1 << (n - 1).bit_length(), self.silence, np.uint8)
    padded[:n] = codes
    return np.asarray(self._one_pass(self.params, jnp.asarray(padded[None])))[:n]

  def _stateful_values(self, params, codes_1xL, carry, reset):
    logits, carry = self.model.logits_with_carry(params, codes_1xL, carry, reset)
    return self._per_position(logits, codes_1xL[:, -logits.shape[1]:]), carry

  def _score_stateful(self, codes: np.ndarray) -> np.ndarray:
    """One pass over a file in carried segments: values [len(codes), ...]."""
    lb, seg = self.model.window_context, self._segment
    n = len(codes)
    padded = np.concatenate([np.full(lb, self.silence, np.uint8), codes,
                             np.full(-n % seg, self.silence, np.uint8)])
    carry = self.model.initial_carry(self.params, 1)
    out = []
    for s in range(0, n, seg):
      window = jnp.asarray(padded[None, s:s + lb + seg])
      nll, carry = self._carry_step(self.params, window, carry,
                                    jnp.asarray([s == 0]))
      out.append(np.asarray(nll[0]))
    return np.concatenate(out)[:n] if out else np.zeros(0, np.float32)

  def _windows(self, codes: np.ndarray):
    """(window [context + K], first kept target, number kept) covering every position."""
    n, k, c = len(codes), self.k, self.context
    padded = np.concatenate([np.full(c, self.silence, np.uint8), codes,
                             np.full(max(k - n, 0), self.silence, np.uint8)])
    for s in range(0, n, k):
      begin = min(s, max(n - k, 0))  # the last block ends at the file's end
      yield padded[begin:begin + c + k], s - begin, min(k, n - s)

  def score_files(self, files: Sequence[np.ndarray],
                  progress: Callable[[int], None] | None = None) -> list[np.ndarray]:
    """Per-sample NLL bits (or `per_position`'s values) [len(file), ...] of every
    position of every file."""
    if self.model.left_context is None:  # the whole past: carried, or one pass
      score = (self._score_stateful if self.model.stateful else self._score_one_pass)
      out = []
      for codes in files:
        out.append(score(np.asarray(codes, np.uint8)))
        if progress:
          progress(len(codes))
      return out
    jobs = [(f, w, keep, count) for f, codes in enumerate(files)
            for w, keep, count in self._windows(np.asarray(codes, np.uint8))]
    out = [[] for _ in files]
    for i in range(0, len(jobs), self.batch):
      chunk = jobs[i:i + self.batch]
      (windows,), _ = pad_rows(self.batch, np.stack([w for _, w, _, _ in chunk]))
      nll = np.asarray(self._step(self.params, jnp.asarray(windows)))
      for (f, _, keep, count), row in zip(chunk, nll):
        out[f].append(row[keep:keep + count])
      if progress:
        progress(sum(c for _, _, _, c in chunk))
    return [np.concatenate(parts) if parts else np.zeros(0, np.float32)
            for parts in out]


class TargetScorer:
  """NLL bits of one target per context through the model's `target_logits` (the
  paper model's chunked path), `batch` contexts per call; records the compiled
  call's FLOPs per scored target."""

  def __init__(self, model: AudioModel, params, *, batch: int = 4):
    self.model, self.params, self.batch = model, params, batch
    self.context = (model.left_context if model.left_context is not None
                    else model.eval_context)

    def nll(params, contexts_BxC, targets_B):
      logits = model.target_logits(params, contexts_BxC.astype(jnp.int32))
      return objective.nll_bits(logits, targets_B)

    shapes = (jax.ShapeDtypeStruct((batch, self.context), jnp.uint8),
              jax.ShapeDtypeStruct((batch,), jnp.uint8))
    self._nll = jax.jit(nll).lower(params, *shapes).compile()
    try:
      self.flops_per_target = flops_of(self._nll) / batch
    except RuntimeError:  # a backend without cost analysis
      self.flops_per_target = None

  def __call__(self, contexts_NxC: np.ndarray, targets_N: np.ndarray,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
    out = []
    for i in range(0, len(targets_N), self.batch):
      (c, t), real = pad_rows(self.batch, contexts_NxC[i:i + self.batch],
                              targets_N[i:i + self.batch])
      out.append(np.asarray(self._nll(self.params, jnp.asarray(c), jnp.asarray(t)))
                 [:real])
      if progress:
        progress(real)
    return np.concatenate(out) if out else np.zeros(0, np.float32)
