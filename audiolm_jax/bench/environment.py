"""What every benchmark records beside its numbers: date, device, software, memory."""

from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata

import jax

_PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy")


def _version(package: str) -> str:
  try:
    return metadata.version(package)
  except metadata.PackageNotFoundError:
    return "absent"


def device_name() -> str:
  """E.g. 'NVIDIA H100 80GB HBM3 x1' or 'cpu x1 (x86_64, 2 cores)'."""
  name = f"{jax.devices()[0].device_kind} x{jax.device_count()}"
  if jax.default_backend() == "cpu":
    name += f" ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
  return name


def portable_path(path: str) -> str:
  """`path` with this user's home written as ~, so a committed command or result
  names no machine's home folder (`~/x` reruns anywhere a shell expands it)."""
  home = os.path.expanduser("~")
  if home not in ("", "~", os.sep) and (path == home or path.startswith(home + os.sep)):
    return "~" + path[len(home):]
  return path


def environment(**versions: str) -> dict:
  """Date, device, backend and versions (jax, flax, ... plus any given)."""
  return {"date": datetime.date.today().isoformat(),
          "device": device_name(), "backend": jax.default_backend(),
          "versions": {"python": platform.python_version(),
                       **{p: _version(p) for p in _PACKAGES}, **versions}}


def memory_limit_bytes() -> int:
  """Memory one device may use: the allocator's limit on accelerators, physical RAM
  on the CPU (where every fake device shares it)."""
  stats = jax.devices()[0].memory_stats() if jax.default_backend() != "cpu" else None
  if stats and "bytes_limit" in stats:
    return int(stats["bytes_limit"])
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def does_not_fit(needed_bytes: int, limit: int) -> str | None:
  """Why a computation needing `needed_bytes` should not run (None if it fits):
  10 % of the device is left for the runtime and fragmentation."""
  if needed_bytes <= 0.9 * limit:
    return None
  return (f"needs {needed_bytes / 2**30:.1f} GiB of the device's "
          f"{limit / 2**30:.0f} GiB")
