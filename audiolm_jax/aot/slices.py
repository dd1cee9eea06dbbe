"""TPU slice names, their topologies, and each chip kind's published figures.

A user rents `v5p-8` or `v5litepod-16`; XLA's TPU compiler wants a topology such as
`v5:2x2x1`. The names count TensorCores for the two-core chips (v4, v5p: `v4-8` is 4
chips) and chips for the one-core chips (v5e, v6e). Both spellings, and raw
topologies (`v5e:2x2`, `v5p:2x2x1`), resolve to one `Slice`. NVIDIA GPUs in one host
(`a100-40gbx4`, the paper's machine, `h100x8`) resolve too: XLA's GPU compiler takes
a target description instead of a device (`gpus.py`; needs the `cuda` extra).
"""

from __future__ import annotations

import dataclasses
import math
import re


@dataclasses.dataclass(frozen=True)
class Chip:
  """One TPU chip kind's published figures (per chip)."""
  kind: str                 # the name users see: v4, v5e, v5p, v6e
  compiler_prefix: str      # the topology prefix libtpu takes (v5p is "v5")
  device_kind: str          # what jax reports as device_kind
  bf16_tflops: float        # peak dense bf16 matmul rate
  hbm_gib: float            # HBM capacity
  hbm_gbps: float           # HBM bandwidth, GB/s
  ici_gbps: float | None    # bidirectional inter-chip bandwidth, GB/s (None: unpublished)
  cores_per_chip: int       # TensorCores per chip (2: a "megacore" JAX device per chip)
  three_d: bool             # 3-D torus (v4, v5p) or 2-D (v5e, v6e)
  source: str
  platform: str = "tpu"     # "cuda": an NVIDIA GPU, one host of `gpus.MAX_PER_HOST`


# Each row from the chip's Cloud TPU system-architecture page (docs/scaling.md has
# the table with its sources). v4's per-chip ICI bandwidth is not on its page.
CHIPS: dict[str, Chip] = {c.kind: c for c in (
    Chip("v4", "v4", "TPU v4", 275.0, 32.0, 1200.0, None, 2, True,
         "Cloud TPU v4 page: 275 TFLOP/s bf16, 32 GiB HBM2 at 1,200 GB/s"),
    Chip("v5e", "v5e", "TPU v5 lite", 197.0, 16.0, 819.0, 400.0, 1, False,
         "Cloud TPU v5e page: 197 TFLOP/s bf16, 16 GiB HBM at 819 GB/s, ICI 400 GB/s"),
    Chip("v5p", "v5", "TPU v5", 459.0, 95.0, 2765.0, 1200.0, 2, True,
         "Cloud TPU v5p page: 459 TFLOP/s bf16, 95 GiB HBM2e at 2,765 GB/s, ICI "
         "1,200 GB/s"),
    Chip("v6e", "v6e", "TPU v6 lite", 918.0, 32.0, 1638.0, 800.0, 1, False,
         "Cloud TPU v6e page: 918 TFLOP/s bf16, 32 GB HBM at 1,638 GB/s, ICI 800 GB/s"),
)}
# NVIDIA GPUs: dense bf16 tensor-core peak, HBM, HBM and NVLink bandwidth (GB/s).
CHIPS.update({c.kind: c for c in (
    Chip("a100-40gb", "", "NVIDIA A100-SXM4-40GB", 312.0, 40.0, 1555.0, 600.0, 1,
         False, "NVIDIA A100 datasheet: 312 TFLOP/s bf16 dense, 40 GB HBM2 at 1,555 "
         "GB/s, NVLink 600 GB/s", "cuda"),
    Chip("a100-80gb", "", "NVIDIA A100-SXM4-80GB", 312.0, 80.0, 2039.0, 600.0, 1,
         False, "NVIDIA A100 datasheet: 312 TFLOP/s bf16 dense, 80 GB HBM2e at 2,039 "
         "GB/s, NVLink 600 GB/s", "cuda"),
    Chip("h100", "", "NVIDIA H100 80GB HBM3", 989.0, 80.0, 3350.0, 900.0, 1, False,
         "NVIDIA H100 SXM datasheet: 989 TFLOP/s bf16 dense, 80 GB HBM3 at 3,350 "
         "GB/s, NVLink 900 GB/s", "cuda"),
)})
KIND_ALIASES = {"v5litepod": "v5e", "v5lite": "v5e", "v5": "v5p", "v6": "v6e"}

# Slice shapes by chip count, as the Cloud TPU pages list them.
_SHAPES_3D = {4: (2, 2, 1), 8: (2, 2, 2), 16: (2, 2, 4), 32: (2, 4, 4), 64: (4, 4, 4),
              128: (4, 4, 8), 256: (4, 8, 8), 512: (8, 8, 8), 1024: (8, 8, 16),
              2048: (8, 16, 16), 4096: (16, 16, 16)}
_SHAPES_2D = {1: (1, 1), 4: (2, 2), 8: (2, 4), 16: (4, 4), 32: (4, 8), 64: (8, 8),
              128: (8, 16), 256: (16, 16)}


@dataclasses.dataclass(frozen=True)
class Slice:
  """A TPU slice: its chip kind and its chips' arrangement."""
  name: str                  # as the user typed it
  chip: Chip
  shape: tuple[int, ...]     # chips along each axis

  @property
  def chips(self) -> int:
    return math.prod(self.shape)

  @property
  def topology(self) -> str:
    """The topology name the compiler takes: v5:2x2x1 (TPU), 1x1x4 (GPUs: slices x
    hosts x devices per host)."""
    if self.chip.platform == "cuda":
      return f"1x1x{self.chips}"
    return f"{self.chip.compiler_prefix}:{'x'.join(map(str, self.shape))}"

  @property
  def rental_name(self) -> str:
    """The accelerator type a user rents: v5p-8 (cores) or v5litepod-4 (chips)."""
    if self.chip.platform == "cuda":
      return f"{self.chip.kind}x{self.chips}"
    kind = "v5litepod" if self.chip.kind == "v5e" else self.chip.kind
    return f"{kind}-{self.chips * self.chip.cores_per_chip}"

  def topology_kwargs(self) -> dict:
    """Arguments of `jax.experimental.topologies.get_topology_desc` beyond the name:
    one megacore device per two-core chip; 2x2 chips per host; wrap-around links
    only on full tori (a v4/v5p cube, a 16-wide v5e/v6e axis)."""
    if self.chip.three_d:
      wrap = tuple(self.chips >= 64 for _ in range(3))
    else:
      wrap = tuple(n == 16 for n in self.shape) + (False,)
    host = tuple(min(2, n) for n in self.shape) + (1,) * (3 - len(self.shape))
    return {"chip_config_name": "megacore" if self.chip.cores_per_chip == 2
            else "default", "chips_per_host_bounds": host, "num_slices": 1,
            "wrap": wrap}

  def with_chips(self, chips: int) -> "Slice | None":
    """The slice of the same kind with `chips` chips, if such a slice exists."""
    if self.chip.platform == "cuda":
      return (Slice(f"{self.chip.kind}x{chips}", self.chip, (chips,))
              if chips <= GPUS_PER_HOST else None)
    shapes = _SHAPES_3D if self.chip.three_d else _SHAPES_2D
    if chips not in shapes:
      return None
    other = Slice("", self.chip, shapes[chips])
    return dataclasses.replace(other, name=other.rental_name)


GPUS_PER_HOST = 8


def known_names() -> list[str]:
  """Every rental name `resolve` takes (raw topologies are taken too)."""
  names = []
  for chip in CHIPS.values():
    if chip.platform == "cuda":
      names += [f"{chip.kind}x{n}" for n in (1, 2, 4, 8)]
      continue
    shapes = _SHAPES_3D if chip.three_d else _SHAPES_2D
    for chips in shapes:
      names.append(Slice("", chip, shapes[chips]).rental_name)
      if chip.kind == "v5e":
        names.append(f"v5e-{chips}")
  return names


class UnknownSliceError(ValueError):
  pass


def resolve(name: str) -> Slice:
  """A slice from a rental name (v4-8, v5p-8, v5litepod-4, v5e-4, v6e-256) or a raw
  topology (v5e:2x2, v5p:2x2x1, v4:2x2x1). Raises UnknownSliceError in one line."""
  text = name.strip().lower()
  gpus = re.fullmatch(r"([a-z]\d+(?:-\d+gb)?)x(\d+)", text)
  if gpus and gpus.group(1) in CHIPS and 1 <= int(gpus.group(2)) <= GPUS_PER_HOST:
    return Slice(name, CHIPS[gpus.group(1)], (int(gpus.group(2)),))
  raw = re.fullmatch(r"(v\w+?):(\d+(?:x\d+)+)", text)
  rental = re.fullmatch(r"(v\w+?)-(\d+)", text)
  kind = (raw or rental).group(1) if (raw or rental) else ""
  chip = CHIPS.get(KIND_ALIASES.get(kind, kind))
  if chip is not None and raw:
    shape = tuple(int(n) for n in raw.group(2).split("x"))
    if len(shape) == (3 if chip.three_d else 2) and all(n > 0 for n in shape):
      return Slice(name, chip, shape)
  if chip is not None and rental:
    count = int(rental.group(2))
    # v5e and v6e names count chips; v4 and v5p names count TensorCores.
    chips, left = divmod(count, chip.cores_per_chip)
    shapes = _SHAPES_3D if chip.three_d else _SHAPES_2D
    if not left and chips in shapes:
      return Slice(name, chip, shapes[chips])
  raise UnknownSliceError(
      f"unknown TPU slice or GPU host {name!r}; use a name such as "
      f"{', '.join(known_names()[:4])} (known: {' '.join(known_names())}) or a "
      f"topology such as v5e:2x2 or v5p:2x2x1")
