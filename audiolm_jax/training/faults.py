"""Failures injected on request, for the tests and the fault drills: inert unless
their environment variables are set (a real training process is what a drill needs,
so they are read by the loop, not passed as flags)."""

from __future__ import annotations

import os
import signal

import jax
import numpy as np

# Fault injection: SIGKILL this process right after the checkpoint of step N is on
# disk; poison the parameters with NaN before step N; make step N's gradient
# infinite while its loss stays finite (compiled into the step only when set).
FAULT_KILL_AFTER_CHECKPOINT = "AUDIOLM_FAULT_KILL_AFTER_CHECKPOINT"
FAULT_NAN_AT_STEP = "AUDIOLM_FAULT_NAN_AT_STEP"
FAULT_INF_GRAD_AT_STEP = "AUDIOLM_FAULT_INF_GRAD_AT_STEP"
# SIGKILL right after step N was dispatched and its predecessors' metrics logged (a
# checkpoint being written is finished first: this drill is about the logs).
FAULT_KILL_AT_STEP = "AUDIOLM_FAULT_KILL_AT_STEP"


class Faults:
  """Failures injected on request (tests, drills); inert unless the variables are set."""

  def __init__(self):
    self.kill_after = int(os.environ.get(FAULT_KILL_AFTER_CHECKPOINT, "-1"))
    self.nan_at = int(os.environ.get(FAULT_NAN_AT_STEP, "-1"))
    self.inf_grad_at = int(os.environ.get(FAULT_INF_GRAD_AT_STEP, "-1"))
    self.kill_at = int(os.environ.get(FAULT_KILL_AT_STEP, "-1"))

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
