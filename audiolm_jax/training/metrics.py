"""Where metrics go: a JSONL log, TensorBoard event files and a console progress bar.

Only process 0 writes; other processes get a writer that does nothing. A writer that
starts at step S (a resumed run; 0: a run with no checkpoint) first drops what an
earlier, crashed run logged after S:
the JSONL keeps its rows of steps <= S (rewritten atomically) and TensorBoard is told
to purge events from step S + 1 on, so every step appears once in both.
"""

from __future__ import annotations

import json
import math
import os
import time


from audiolm_jax import progress, strict_json


class MetricWriter:
  """Writes scalar metrics per step to `{workdir}/metrics.jsonl` and TensorBoard."""

  def __init__(self, workdir: str, *, total_steps: int, initial_step: int = 0,
               enabled: bool = True):
    self.enabled = enabled
    self._tb = None
    self._bar = None
    if not enabled:
      return
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "metrics.jsonl")
    _truncate_jsonl(path, initial_step)  # a fresh start (step 0) keeps nothing
    self._jsonl = open(path, "a")
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"),
                             purge_step=initial_step + 1)
    self._bar = progress.bar(total_steps, initial=initial_step, unit="step")

  def write(self, step: int, metrics: dict[str, float], prefix: str = "train") -> None:
    if not self.enabled:
      return
    clean = {k: float(v) for k, v in metrics.items()}
    self._jsonl.write(strict_json.dumps({"step": step, "split": prefix,
                                         "time": time.time(), **clean}) + "\n")
    self._jsonl.flush()
    for k, v in clean.items():
      if math.isfinite(v):
        self._tb.add_scalar(f"{prefix}/{k}", v, step)
    self._tb.flush()  # as durable as the JSONL: a crash loses no logged step
    if prefix == "train" and "loss_bits" in clean:
      self._bar.set_postfix(loss=f"{clean['loss_bits']:.3f}b", refresh=False)

  def advance(self, n: int = 1) -> None:
    if self.enabled:
      self._bar.update(n)

  def print(self, message: str) -> None:
    if self.enabled:
      self._bar.write(message) if self._bar else print(message)

  def close(self) -> None:
    if not self.enabled:
      return
    self._bar.close()
    self._tb.close()
    self._jsonl.close()


def _truncate_jsonl(path: str, last_step: int) -> None:
  """Keeps the rows of steps <= last_step (atomically); a missing file is fine."""
  if not os.path.isfile(path):
    return
  kept = []
  with open(path) as f:
    for line in f:
      try:
        row = json.loads(line)
      except json.JSONDecodeError:
        continue  # a line cut off by the crash
      if row["step"] <= last_step:
        kept.append(line if line.endswith("\n") else line + "\n")
  strict_json.write_text(path, "".join(kept))
