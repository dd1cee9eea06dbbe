"""The exact training step compiled for a TPU slice, on this machine, without TPUs.

`compile_for_slice(config, slice_, batch_size)` builds what `train.py` builds (the
config's model, objective, remat, dtype, optimizer and state donation, through the
same `ShardedStep`) on a ("data",) mesh of the slice's compile-only devices, and runs
XLA's TPU compiler: its buffer assignment is the one the hardware would get, and a
program that does not fit is refused with the error the hardware would give.
Nothing runs. `compile_on_cpu` compiles the same step for one CPU device, the FLOP
count the reports use (docs/scaling.md, "Compiled for TPU slices").
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time

import jax
import ml_collections
import numpy as np
from jax.experimental import mesh_utils, topologies
from jax.experimental.compilation_cache import compilation_cache
from jax.sharding import NamedSharding, PartitionSpec as P

from audiolm_jax.aot import collectives, gpus, libtpu
from audiolm_jax.aot.slices import Slice
from audiolm_jax.training import config as train_config
from audiolm_jax.training.sharding import ShardedStep


@dataclasses.dataclass(frozen=True)
class StepCompile:
  """What one compile of the train step says, per chip (device)."""
  fits: bool
  seconds: float                    # wall time of lowering + compiling
  error: str = ""                   # the compiler's refusal, one line
  argument_bytes: int = 0
  output_bytes: int = 0
  alias_bytes: int = 0              # outputs written over donated arguments
  temp_bytes: int = 0
  flops: float = 0.0                # XLA's cost analysis (a loop body counted once)
  bytes_accessed: float = 0.0
  collectives: tuple = ()           # collectives.Collective, one per kind

  @property
  def total_bytes(self) -> int:
    """Per-chip memory: arguments + outputs + temporaries - aliased outputs."""
    return (self.argument_bytes + self.output_bytes + self.temp_bytes
            - self.alias_bytes)

  def to_json(self) -> dict:
    out = dataclasses.asdict(self)
    out["total_bytes"] = self.total_bytes
    out["collectives"] = [dataclasses.asdict(c) for c in self.collectives]
    return out


def slice_mesh(slice_: Slice) -> jax.sharding.Mesh:
  """A ("data",) mesh over the compile-only devices of `slice_` (no TPU or GPU
  needed)."""
  if slice_.chip.platform == "cuda":
    gpus.require()
    topology = topologies.get_topology_desc(
        topology_name=slice_.topology, platform="cuda",
        target_config=gpus.target_config(slice_.chip.kind), topology=slice_.topology)
  else:
    libtpu.require()
    topology = topologies.get_topology_desc(topology_name=slice_.topology,
                                            platform="tpu",
                                            **slice_.topology_kwargs())
  devices = mesh_utils.create_device_mesh((len(topology.devices),),
                                          list(topology.devices))
  return jax.sharding.Mesh(devices, ("data",),
                           axis_types=(jax.sharding.AxisType.Auto,))


def hosts_of(mesh: jax.sharding.Mesh) -> int:
  return len({d.process_index for d in mesh.devices.flat})


def with_batch(config: ml_collections.ConfigDict, batch_size: int,
               **model_changes) -> ml_collections.ConfigDict:
  """A copy of `config` with another global batch and model fields changed."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.batch_size = batch_size
  for name, value in model_changes.items():
    c.model[name] = value
  return c


# The compiler's out-of-memory refusal, as libtpu words it: "... Used 24.54G of
# 15.75G hbm. Exceeded hbm capacity by 8.79G." or "HLO temporaries (24.54G) exceeds
# available HBM (15.75G)".
_OOM = re.compile(r"(RESOURCE_EXHAUSTED|[Rr]an out of memory|exceeds available HBM|"
                  r"Exceeded hbm capacity)")


def one_line(error: Exception) -> str:
  """The first line of a compiler error that says what was exceeded."""
  lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
  for ln in lines:
    if _OOM.search(ln):
      return ln[:400]
  return (lines[0] if lines else type(error).__name__)[:400]


def is_out_of_memory(error: Exception) -> bool:
  return bool(_OOM.search(str(error)))


@contextlib.contextmanager
def _no_persistent_cache():
  """JAX's persistent compilation cache off for a compile-only executable: it would
  store it, and reading it back needs a TPU or GPU client this machine lacks."""
  before = jax.config.jax_enable_compilation_cache
  jax.config.update("jax_enable_compilation_cache", False)
  compilation_cache.reset_cache()  # JAX decides once whether to use it: decide anew
  try:
    yield
  finally:
    jax.config.update("jax_enable_compilation_cache", before)
    compilation_cache.reset_cache()


def _step_compile(lowered_fn, seconds_from: float, tpu: bool = True) -> StepCompile:
  try:
    with _no_persistent_cache() if tpu else contextlib.nullcontext():
      compiled = lowered_fn().compile()
  except Exception as e:  # pylint: disable=broad-except
    if not is_out_of_memory(e):
      raise
    return StepCompile(False, time.perf_counter() - seconds_from, one_line(e))
  mem = compiled.memory_analysis()
  cost = compiled.cost_analysis()  # None for a compile-only GPU executable
  cost = (cost[0] if isinstance(cost, (list, tuple)) else cost) or {}
  return StepCompile(
      True, time.perf_counter() - seconds_from,
      argument_bytes=int(mem.argument_size_in_bytes),
      output_bytes=int(mem.output_size_in_bytes),
      alias_bytes=int(mem.alias_size_in_bytes), temp_bytes=int(mem.temp_size_in_bytes),
      flops=float(cost.get("flops", 0.0)),
      bytes_accessed=float(cost.get("bytes accessed", 0.0)),
      collectives=tuple(collectives.summarize(compiled.as_text())))


def lower_step(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh):
  """The train step of `config` lowered for `mesh` at the config's global batch,
  built by train.py's `ShardedStep` (the dataset's files are not read)."""
  model = train_config.checked_model(config, mesh.size, hosts_of(mesh),
                                     check_data=False)
  init_rng = jax.random.key(config.seed)
  sharded = ShardedStep.build(config, model, mesh, init_rng)
  rng = jax.ShapeDtypeStruct(init_rng.shape, init_rng.dtype,
                             sharding=NamedSharding(mesh, P()))
  return sharded.step.lower(sharded.abstract_state,
                            sharded.batch_struct(config.batch_size), rng)


def compile_for_slice(config: ml_collections.ConfigDict, slice_: Slice,
                      mesh: jax.sharding.Mesh | None = None) -> StepCompile:
  """Compiles `config`'s train step (its own global batch) for `slice_`.

  Returns fits=False with the compiler's message when the program does not fit a
  chip's HBM; raises ValueError for a config the trainer would refuse (a batch that
  does not divide over the chips, say).
  """
  mesh = mesh or slice_mesh(slice_)
  start = time.perf_counter()
  lowered = lower_step(config, mesh)
  return _step_compile(lambda: lowered, start)


def compile_on_cpu(config: ml_collections.ConfigDict, per_chip_batch: int
                   ) -> StepCompile:
  """The same step for ONE CPU device at one chip's share of the batch, with every
  remat setting off: XLA counts each op once, so its FLOPs are the step's model
  FLOPs per chip (remat's recomputation not included; a remat loop's body would be
  counted once, which is why it is off here)."""
  changes = {k: v for k, v in (("remat_block", 0), ("remat_encoder", False))
             if k in config.model}
  c = with_batch(config, per_chip_batch, **changes)
  mesh = jax.sharding.Mesh(np.array(jax.devices("cpu")[:1]), ("data",),
                           axis_types=(jax.sharding.AxisType.Auto,))
  start = time.perf_counter()
  lowered = lower_step(c, mesh)
  return _step_compile(lambda: lowered, start, tpu=False)
