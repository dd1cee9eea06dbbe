"""One writer per workdir: `train` holds {workdir}/train.lock for its whole run.

The lock is an advisory `flock` on that file, which the kernel releases when the
holder dies however it dies (SIGKILL included), so a stale lock can never block a
run; the file's content (host, PID, start time) names the holder for the message a
second writer gets, and is what a run finds when it takes over a lock left by a dead
process. Readers (`evaluate`, `sample`, `codec`) take no lock: Orbax publishes a
step only once it is complete.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket

LOCK_FILE = "train.lock"


class WorkdirBusyError(RuntimeError):
  """Another live `train` process holds the workdir."""


def _describe(holder: dict) -> str:
  return (f"PID {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
          f"{holder.get('started', '?')}")


class WorkdirLock:
  """Holds the workdir's lock from `acquire()` to `release()` (or process exit)."""

  def __init__(self, workdir: str):
    self.path = os.path.join(os.path.abspath(workdir), LOCK_FILE)
    self._fd = None

  def acquire(self) -> str | None:
    """Takes the lock; returns a line when it took over a dead holder's lock.

    Raises WorkdirBusyError naming the holder when a live process has it.
    """
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = _read(fd)
      os.close(fd)
      raise WorkdirBusyError(
          f"{os.path.dirname(self.path)} is in use by another train process "
          f"({_describe(holder)}); wait for it to finish, stop it, or use another "
          f"--workdir") from None
    except OSError as e:  # a filesystem without flock (some network mounts)
      os.close(fd)
      return (f"could not lock {self.path} ({e.strerror}): this filesystem has no "
              f"file locks, so nothing stops a second train on this workdir")
    previous = _read(fd)
    me = {"host": socket.gethostname(), "pid": os.getpid(),
          "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
    os.fsync(fd)
    self._fd = fd
    if previous:
      return (f"took over the lock of {os.path.dirname(self.path)} left by a train "
              f"process that is no longer running ({_describe(previous)})")
    return None

  def release(self) -> None:
    """Empties the lock file and releases it (an empty file means a clean exit)."""
    if self._fd is None:
      return
    try:
      os.ftruncate(self._fd, 0)
    except OSError:
      pass
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None


def _read(fd: int) -> dict:
  try:
    text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    return json.loads(text) if text else {}
  except (OSError, ValueError):
    return {"host": "?", "pid": "?", "started": "?"}
