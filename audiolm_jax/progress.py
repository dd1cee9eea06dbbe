"""Progress for train, evaluate and sample: a bar on a terminal, lines in a log.

A tqdm bar redraws itself with carriage returns many times a second; written to a
file or a pipe (a `make demo > log` run, CI, a cluster's job log) that is thousands of
updates on one line. When the output is not a terminal, `bar` returns `LineProgress`
instead: one plain line every `AUDIOLM_PROGRESS_SECONDS` (default 10) and one at the
end. `AUDIOLM_NO_PROGRESS=1` turns both off.
"""

import os
import sys
import time
from typing import IO

import tqdm

DEFAULT_SECONDS = 10.0


def enabled() -> bool:
  """False when AUDIOLM_NO_PROGRESS=1."""
  return os.environ.get("AUDIOLM_NO_PROGRESS") != "1"


def _interval() -> float:
  value = os.environ.get("AUDIOLM_PROGRESS_SECONDS", "")
  try:
    return float(value) if value else DEFAULT_SECONDS
  except ValueError:
    raise ValueError(f"AUDIOLM_PROGRESS_SECONDS={value!r} is not a number of "
                     f"seconds; unset it or set e.g. 10") from None


def _count(n: float, scale: bool) -> str:
  if n < 10 and n != int(n):
    return f"{n:.2f}"
  if not scale or n < 1000:
    return f"{n:,.0f}"
  for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
    if n >= div:
      return f"{n / div:.2f}{suffix}"
  return f"{n:,.0f}"


class LineProgress:
  """tqdm's update/set_postfix/write/close, printed as whole lines at most every
  `interval` seconds (and once at close)."""

  def __init__(self, total: int, *, unit: str, initial: int = 0,
               unit_scale: bool = False, file: IO[str] | None = None,
               interval: float | None = None, disable: bool = False):
    self.total, self.n, self.unit, self.unit_scale = total, initial, unit, unit_scale
    self.disable = disable
    self._file = file or sys.stdout
    self._interval = _interval() if interval is None else interval
    self._start = self._last = time.monotonic()
    self._initial = initial
    self._first: tuple[float, int] | None = None   # (time, count) of the first update
    self._postfix = ""
    self._closed = False

  def update(self, n: int = 1) -> None:
    now = time.monotonic()
    if self._first is None:
      # The rate counts from the first update on: the time before it is compiling.
      self._first = (now, self.n + n)
    self.n += n
    if (not self.disable and now - self._last >= self._interval
        and self.n > self._first[1]):
      self._last = now
      self._line()

  def set_postfix(self, refresh: bool = False, **values) -> None:
    del refresh
    self._postfix = ", ".join(f"{k}={v}" for k, v in values.items())

  def write(self, message: str) -> None:
    print(message, file=self._file, flush=True)

  def _line(self) -> None:
    now = time.monotonic()
    elapsed = now - self._start
    since, count = self._first or (self._start, self._initial)
    rate = (self.n - count) / (now - since) if now > since else 0.0
    done = f"{_count(self.n, self.unit_scale)}/{_count(self.total, self.unit_scale)}"
    parts = [f"{done} {self.unit}s"]
    if self.total:
      parts[0] += f" ({100 * self.n / self.total:.0f} %)"
    parts.append(f"{_count(rate, self.unit_scale)} {self.unit}s/s")
    if rate > 0 and self.total and self.n < self.total:
      parts.append(f"{(self.total - self.n) / rate:.0f} s left")
    parts.append(f"{elapsed:.0f} s")
    if self._postfix:
      parts.append(self._postfix)
    print("progress: " + ", ".join(parts), file=self._file, flush=True)

  def close(self) -> None:
    if not self._closed and not self.disable and self.n > self._initial:
      self._line()
    self._closed = True

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def bar(total: int, *, unit: str, initial: int = 0, unit_scale: bool = False,
        show: bool = True, file: IO[str] | None = None):
  """A tqdm bar on a terminal, a `LineProgress` otherwise; silent when `show` is
  False or AUDIOLM_NO_PROGRESS=1."""
  file = file or sys.stdout
  disable = not (show and enabled())
  if hasattr(file, "isatty") and file.isatty():
    return tqdm.tqdm(total=total, initial=initial, unit=unit, unit_scale=unit_scale,
                     dynamic_ncols=True, file=file, disable=disable)
  return LineProgress(total, unit=unit, initial=initial, unit_scale=unit_scale,
                      file=file, disable=disable)
