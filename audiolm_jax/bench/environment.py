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


def cpu_kind(cpuinfo: str = "/proc/cpuinfo") -> str:
  """The processor's model and widest vector extension, e.g. 'AMD EPYC, AVX2' or
  'Intel(R) Xeon(R) CPU @ 2.20GHz, AVX-512': XLA's CPU code, and so a run's last
  digits, differ between the two (docs/findings.md). The machine name where the
  file cannot be read."""
  try:
    with open(cpuinfo, encoding="utf-8") as f:
      text = f.read()
  except OSError:
    return platform.processor() or platform.machine()
  fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
  fields = {k.strip(): v.strip() for k, v in fields.items()}
  flags = set(fields.get("flags", "").split())
  width = ("AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags
           else "SSE" if flags else "")
  model = fields.get("model name") or platform.machine()
  return f"{model}, {width}" if width else model


def device_name() -> str:
  """E.g. 'NVIDIA H100 80GB HBM3 x1' or 'cpu x1 (AMD EPYC, AVX2, 2 cores)'."""
  name = f"{jax.devices()[0].device_kind} x{jax.device_count()}"
  if jax.default_backend() == "cpu":
    name += f" ({cpu_kind()}, {os.cpu_count()} cores)"
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
