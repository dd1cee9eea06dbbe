"""XLA's GPU compiler without a GPU: a target description per NVIDIA GPU kind.

JAX's CUDA plugin (the `cuda` extra) describes a GPU topology from a
`GpuTargetConfigProto` in text form when no GPU is attached; XLA then compiles for
it as it would on the device (its buffer assignment, its memory analysis). The
figures below are the devices' own (what CUDA's device query reports); memory sizes
are the usable bytes a device reports, a little under the marketed GB.
"""

from __future__ import annotations

import importlib.util

# CUDA device-query figures per kind (compute capability, SMs, per-SM limits, L2,
# clocks, bytes). A100s are compute capability 8.0, H100 SXM 9.0.
_DEVICES = {
    "a100-40gb": dict(major=8, core_count=108, fpus_per_core=64,
                      shared_memory_per_core=167936, shared_memory_optin=166912,
                      memory_bandwidth=1_555_200_000_000, l2_cache_size=41943040,
                      clock_rate_ghz=1.41, device_memory_size=42_331_013_120,
                      description="NVIDIA A100-SXM4-40GB"),
    "a100-80gb": dict(major=8, core_count=108, fpus_per_core=64,
                      shared_memory_per_core=167936, shared_memory_optin=166912,
                      memory_bandwidth=2_039_040_000_000, l2_cache_size=41943040,
                      clock_rate_ghz=1.41, device_memory_size=85_100_068_864,
                      description="NVIDIA A100-SXM4-80GB"),
    "h100": dict(major=9, core_count=132, fpus_per_core=128,
                 shared_memory_per_core=233472, shared_memory_optin=232448,
                 memory_bandwidth=3_352_320_000_000, l2_cache_size=52428800,
                 clock_rate_ghz=1.98, device_memory_size=84_978_434_048,
                 description="NVIDIA H100 80GB HBM3"),
}
INSTALL = 'pip install -e ".[cuda]"'


def installed() -> bool:
  """Whether JAX's CUDA plugin is installed (the `cuda` extra)."""
  return importlib.util.find_spec("jax_cuda12_plugin") is not None


def target_config(kind: str) -> str:
  """The GpuTargetConfigProto text XLA's GPU compiler takes for `kind`."""
  d = _DEVICES[kind]
  return f"""gpu_device_info {{
  threads_per_block_limit: 1024
  threads_per_warp: 32
  shared_memory_per_block: 49152
  shared_memory_per_core: {d['shared_memory_per_core']}
  threads_per_core_limit: 2048
  core_count: {d['core_count']}
  fpus_per_core: {d['fpus_per_core']}
  block_dim_limit_x: 2147483647
  block_dim_limit_y: 65535
  block_dim_limit_z: 65535
  memory_bandwidth: {d['memory_bandwidth']}
  l2_cache_size: {d['l2_cache_size']}
  clock_rate_ghz: {d['clock_rate_ghz']}
  device_memory_size: {d['device_memory_size']}
  shared_memory_per_block_optin: {d['shared_memory_optin']}
  cuda_compute_capability {{ major: {d['major']} }}
  registers_per_core_limit: 65536
  registers_per_block_limit: 65536
}}
platform_name: "CUDA"
dnn_version_info {{ major: 9 }}
device_description_str: "{d['description']}"
"""


def usable_bytes(kind: str) -> int:
  return _DEVICES[kind]["device_memory_size"]


class CudaPluginMissingError(RuntimeError):
  pass


def require() -> None:
  if not installed():
    raise CudaPluginMissingError(
        f"compiling for GPUs needs JAX's CUDA plugin, which is not installed: "
        f"{INSTALL}")
