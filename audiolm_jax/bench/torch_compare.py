"""Per-target forward time of the PyTorch reference (eager, torch.compile), JAX
chunked and JAX dense: same parameters, same device, one process. Needs the bench
extra (torch). PyTorch runs on the CPU (the extra installs the CPU wheel)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from audiolm_jax.bench import torch_reference
from audiolm_jax.bench import timing
from audiolm_jax.models.cnn_transformer_module import CNNTransformerModule, init_params
from audiolm_jax.models.cnn_transformer_config import get_model_config


def run(*, preset: str, batch: int, num_targets: int, max_repeats: int = 3,
        budget_s: float = 30.0, log=print) -> dict:
  import torch  # pylint: disable=import-outside-toplevel  (optional extra)

  cfg = get_model_config(preset)
  model = CNNTransformerModule(cfg)
  params = init_params(model, jax.random.key(0))
  rng = np.random.default_rng(0)
  contexts = rng.integers(0, 256, (batch, cfg.context))
  row = jnp.asarray(rng.integers(0, 256, (1, cfg.context + num_targets)), jnp.int32)
  ported = torch_reference.from_flax(cfg, params)
  compiled = torch.compile(ported)
  x = torch.from_numpy(contexts)
  chunked_fn = jax.jit(lambda p, c: model.apply({"params": p}, c,
                                                method=CNNTransformerModule.chunked_logits))
  dense_fn = jax.jit(lambda p, c: model.apply({"params": p}, c,
                                              num_targets=num_targets))
  cj = jnp.asarray(contexts, jnp.int32)
  def torch_call(module):
    return lambda: module(x) is None  # timing.seconds waits on JAX arrays only

  runs = {"torch_eager": (torch_call(ported), batch),
          "torch_compile": (torch_call(compiled), batch),
          "jax_chunked": (lambda: chunked_fn(params, cj), batch),
          "jax_dense": (lambda: dense_fn(params, row), num_targets)}
  ms = {}
  with torch.no_grad():
    for name, (fn, targets) in runs.items():
      t = timing.seconds(fn, max_repeats=max_repeats, budget_s=budget_s)
      ms[name] = 1e3 * t["min_s"] / targets
      log({name: ms[name]})
  return {"preset": preset, "context": cfg.context, "chunked_batch": batch,
          "num_targets": num_targets, "torch_version": torch.__version__,
          "torch_threads": torch.get_num_threads(), "ms_per_target": ms}
