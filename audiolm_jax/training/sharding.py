"""Data parallelism: the ("data",) mesh and the sharded, AOT-compiled train step.

The batch is sharded over "data", the parameters and optimizer state replicated; XLA
inserts the gradient all-reduce. Shardings are decided up front from `jax.eval_shape`
of the init, and the step is compiled ahead of time for a global batch shape.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P

from audiolm_jax.models.interface import AudioModel
from audiolm_jax.training import config as train_config
from audiolm_jax.training import steps


def data_mesh():
  """Every device on one ("data",) axis. Auto axes: XLA propagates the batch
  sharding through the model (plain GSPMD)."""
  return jax.make_mesh((jax.device_count(),), ("data",),
                       axis_types=(jax.sharding.AxisType.Auto,))


def global_batch(local, sharding: NamedSharding):
  """This process's rows (an array or a dict of them) -> global arrays sharded over
  "data"."""
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x),
                      local)


def to_host(x: jax.Array) -> np.ndarray:
  """A (possibly multi-process) array, whole, on this host."""
  if jax.process_count() > 1:
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return np.asarray(x)


@dataclasses.dataclass(frozen=True)
class ShardedStep:
  """The data-parallel training step of a config on a ("data",) mesh.

  `init(rng)` makes the TrainState (parameters and optimizer state replicated, a
  stateful model's carry split over "data" with the batch rows it belongs to);
  `step(state, batch, rng)` is the jitted, state-donating train step; batches
  ({"codes": uint8 [B, W]}, plus {"reset": bool [B]} for a stateful model) are
  split over "data".
  """

  init: Callable[[jax.Array], steps.TrainState]
  step: Any
  abstract_state: Any           # ShapeDtypeStructs with shardings
  state_sharding: Any
  batch_sharding: NamedSharding
  window: int                   # codes per row: context + targets per window
  stateful: bool = False        # batches carry "reset"

  @classmethod
  def build(cls, config: ml_collections.ConfigDict, model: AudioModel, mesh,
            init_rng: jax.Array) -> "ShardedStep":
    batch_sharding = NamedSharding(mesh, P("data"))
    replicated = NamedSharding(mesh, P())
    optimizer, schedule = steps.make_optimizer(**config.optimizer.to_dict())
    k = train_config.window_targets(config)

    def init(rng):
      params = model.init(rng)
      carry = (model.initial_carry(params, config.batch_size) if model.stateful
               else None)
      return steps.TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params),
                              carry)

    abstract = jax.eval_shape(init, init_rng)
    state_sharding = jax.tree.map(lambda _: replicated, abstract)
    if model.stateful:
      state_sharding = state_sharding.replace(
          carry=jax.tree.map(lambda _: batch_sharding, abstract.carry))
    abstract = jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
        abstract, state_sharding)
    step = jax.jit(
        steps.make_train_step(model, optimizer, schedule, objective=config.objective,
                              num_targets=k),
        in_shardings=(state_sharding, batch_sharding, replicated),
        out_shardings=(state_sharding, replicated), donate_argnums=0)
    return cls(init, step, abstract, state_sharding, batch_sharding,
               model.window_context + k, model.stateful)

  def batch_struct(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
    out = {"codes": jax.ShapeDtypeStruct((batch_size, self.window), jnp.uint8,
                                         sharding=self.batch_sharding)}
    if self.stateful:
      out["reset"] = jax.ShapeDtypeStruct((batch_size,), jnp.bool_,
                                          sharding=self.batch_sharding)
    return out

  def compile(self, batch_size: int, rng: jax.Array):
    """The step compiled ahead of time for global batches of `batch_size` windows."""
    return self.step.lower(self.abstract_state, self.batch_struct(batch_size),
                           rng).compile()
