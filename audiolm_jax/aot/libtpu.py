"""libtpu on a machine without TPUs: quiet, and asked for only where it is needed.

With `jax[tpu]` installed (the package's `tpu` extra), JAX starts libtpu's runtime
whenever it looks for devices; on a machine with no TPU attached, libtpu then prints
several lines about TPU_ACCELERATOR_TYPE and TPU_WORKER_HOSTNAMES that say nothing to
a user of this package. Giving libtpu those two variables for the process, and only
when no TPU chip is on the PCI bus, keeps every command quiet there; the TPU compiler
still compiles for any topology. Without a TPU there is no device for processes to
contend for, so libtpu's one-process lock is lifted too (parallel tests and a
compile sweep beside them). On a TPU VM nothing is set.
"""

from __future__ import annotations

import glob
import importlib.util
import os

INSTALL = 'pip install -e ".[tpu]"   (or: pip install "audiolm_jax[tpu]")'

_GOOGLE_PCI_VENDOR = "0x1ae0"


def tpu_attached() -> bool:
  """Whether a Google TPU chip is on this machine's PCI bus (as JAX itself checks)."""
  for vendor in glob.glob("/sys/bus/pci/devices/*/vendor"):
    try:
      with open(vendor, encoding="ascii") as f:
        if f.read().strip() == _GOOGLE_PCI_VENDOR:
          return True
    except OSError:
      continue
  return False


def installed() -> bool:
  return importlib.util.find_spec("libtpu") is not None


def quiet_without_tpu() -> None:
  """Sets libtpu's two host variables for this process when libtpu is installed and
  no TPU is attached (a user's own settings win). Call before JAX starts a backend.
  Likewise JAX's CUDA plugin without a GPU: its version check would refuse to load
  it, and compiling for GPUs (`--topology a100-40gbx4`) needs it loaded."""
  if (importlib.util.find_spec("jax_cuda12_plugin") is not None
      and not glob.glob("/dev/nvidia[0-9]*")):
    os.environ.setdefault("JAX_SKIP_CUDA_CONSTRAINTS_CHECK", "1")
  if not installed() or tpu_attached():
    return
  os.environ.setdefault("TPU_ACCELERATOR_TYPE", "v5litepod-1")
  os.environ.setdefault("TPU_WORKER_HOSTNAMES", "localhost")
  os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
  os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")


class LibtpuMissingError(RuntimeError):
  pass


def require() -> None:
  """Raises LibtpuMissingError, in one line with the install command, without libtpu."""
  if not installed():
    raise LibtpuMissingError(
        f"compiling for a TPU slice needs libtpu, which is not installed: {INSTALL}")
