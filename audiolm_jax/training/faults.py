"""Failures injected on request, for the tests and the fault drills: inert unless
their environment variables are set (a real training process is what a drill needs,
so they are read by the loop, not passed as flags). None of them is compiled into
the production train step: the gradient-overflow drill compiles a step of its own
from the same factory and runs it at its one step."""

from __future__ import annotations

import os
import signal

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

# Fault injection: SIGKILL this process right after the checkpoint of step N is on
# disk; poison the parameters with NaN before step N; make step N's gradient
# infinite while its loss stays finite (a step compiled for the drill alone).
FAULT_KILL_AFTER_CHECKPOINT = "AUDIOLM_FAULT_KILL_AFTER_CHECKPOINT"
FAULT_NAN_AT_STEP = "AUDIOLM_FAULT_NAN_AT_STEP"
FAULT_INF_GRAD_AT_STEP = "AUDIOLM_FAULT_INF_GRAD_AT_STEP"
# SIGKILL right after step N was dispatched and its predecessors' metrics logged (a
# checkpoint being written is finished first: this drill is about the logs).
FAULT_KILL_AT_STEP = "AUDIOLM_FAULT_KILL_AT_STEP"


@jax.custom_vjp
def _infinite_cotangent(params):
  """The identity on `params`; their cotangents become +inf (the forward is exact)."""
  return params


def _identity_fwd(params):
  return params, None


def _infinite_bwd(_, cotangents):
  return (jax.tree.map(lambda g: jnp.full_like(g, jnp.inf), cotangents),)


_infinite_cotangent.defvjp(_identity_fwd, _infinite_bwd)


class InfiniteGradients:
  """`model` with the same forward, whose parameters' gradients are +inf: what a
  bfloat16 backward that overflows gives (a finite loss, a non-finite gradient)."""

  _TAKE_PARAMS = ("logits", "target_logits", "logits_with_carry")

  def __init__(self, model):
    self._model = model

  def __getattr__(self, name):
    attr = getattr(self._model, name)
    if name not in self._TAKE_PARAMS:
      return attr
    return lambda params, *args, **kwargs: attr(_infinite_cotangent(params), *args,
                                                **kwargs)


class Faults:
  """Failures injected on request (tests, drills); inert unless the variables are set."""

  def __init__(self):
    self.kill_after = int(os.environ.get(FAULT_KILL_AFTER_CHECKPOINT, "-1"))
    self.nan_at = int(os.environ.get(FAULT_NAN_AT_STEP, "-1"))
    self.inf_grad_at = int(os.environ.get(FAULT_INF_GRAD_AT_STEP, "-1"))
    self.kill_at = int(os.environ.get(FAULT_KILL_AT_STEP, "-1"))

  def drill_step(self, compile_for: Callable, model):
    """The gradient-overflow drill's compiled step (`compile_for(model)` with
    `InfiniteGradients(model)`), or None when that drill is off."""
    return compile_for(InfiniteGradients(model)) if self.inf_grad_at >= 0 else None

  def step(self, step: int, compiled, drill):
    """The compiled step to run at `step`: the drill's at its step, else `compiled`."""
    return drill if step == self.inf_grad_at and drill is not None else compiled

  def before_step(self, step: int, state):
    if step != self.nan_at:
      return state
    return state.replace(params=jax.tree.map(lambda x: x * np.float32("nan"),
                                             state.params))

  def after_step(self, step: int, checkpointer) -> None:
    if step == self.kill_at:
      checkpointer.wait()
      os.kill(os.getpid(), signal.SIGKILL)

  def after_checkpoint(self, step: int, checkpointer) -> None:
    if step == self.kill_after:
      checkpointer.wait()
      os.kill(os.getpid(), signal.SIGKILL)
