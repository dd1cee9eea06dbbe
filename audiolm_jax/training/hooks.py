"""Things the training loop does around a step, one small class per concern.

* `Preemption`: SIGTERM on any process, or a first Ctrl-C (SIGINT); every process
  saves the same step and returns. A second Ctrl-C aborts at once.
* `ProfileWindow`: an XLA trace of steps [start, start + num) on process 0.

Injected failures for the tests and drills are `faults.py`.
"""

from __future__ import annotations

import os
import signal
import threading

import jax
from jax.experimental import multihost_utils



class Preemption:
  """Whether to stop and save before this step, the same step on every process.

  One process: SIGTERM and the first SIGINT set a flag; the second SIGINT raises
  KeyboardInterrupt as Python's default handler does (the user insists). Several
  processes: each may see the signal at a different step (or only one of them sees
  it), so a per-process flag would make them save different steps or hang in the
  collective save. JAX's preemption service (started by `jax.distributed.initialize`,
  which installs its own SIGTERM notifier) agrees on one step for all: the loop asks
  at every step, and a SIGINT is passed on to it as a SIGTERM to this process.
  """

  def __init__(self):
    self._multi = jax.process_count() > 1
    self._event = threading.Event()
    self.interrupted = False  # the stop came from Ctrl-C (SIGINT)
    self._previous = {}
    if threading.current_thread() is threading.main_thread():
      if not self._multi:
        self._previous[signal.SIGTERM] = signal.signal(signal.SIGTERM,
                                                       lambda *_: self._event.set())
      self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_sigint)

  def _on_sigint(self, *_):
    self.interrupted = True
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the second aborts
    if self._multi:
      os.kill(os.getpid(), signal.SIGTERM)
    else:
      self._event.set()

  @property
  def signal_name(self) -> str:
    return "Ctrl-C" if self.interrupted else "SIGTERM"

  def reached(self, step: int) -> bool:
    if self._multi:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._event.is_set()

  def close(self) -> None:
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    self._previous = {}


class ProfileWindow:
  """Traces steps [start_step, start_step + num_steps) into `directory`."""

  def __init__(self, directory: str, start_step: int, num_steps: int, enabled: bool):
    self.directory, self.start, self.num = directory, start_step, num_steps
    self.enabled, self.active = enabled, False

  def before(self, step: int) -> None:
    if self.enabled and step == self.start:
      jax.profiler.start_trace(self.directory)
      self.active = True

  def after(self, step: int, state) -> str | None:
    """Stops after the window's last step; returns a message when it did."""
    if self.active and step + 1 >= self.start + self.num:
      jax.block_until_ready(state)
      self.close()
      return f"profile of steps {self.start}-{step} in {self.directory}"
    return None

  def close(self) -> None:
    if self.active:
      jax.profiler.stop_trace()
      self.active = False
