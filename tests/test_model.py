"""Parameter count, gradients, numerics options, dropout, and input errors."""


import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from audiolm_jax import CNNTransformerModule, CNNTransformerConfig, count_params, get_model_config
from audiolm_jax.models.cost import encoder_macs, flops_per_target
from helpers import CONFIGS, chunked, dense, left_context, make_model, random_codes, rel_err

NO_DROPOUT = dict(encoder_dropout=0.0, token_dropout=0.0, head_dropout=0.0)


def _analytic_param_count(cfg: CNNTransformerConfig) -> int:
  k, c_in, total = cfg.conv_kernel, 1, 0
  for f in cfg.conv_features:  # conv kernels and biases
    total += k * c_in * f + f
    c_in = f
  d = cfg.token_dim
  total += cfg.flatten_positions * c_in * d + d  # flatten -> token
  per_block = (2 * 2 * d                      # two LayerNorms
               + 4 * d * d + 3 * d            # q, k, v, out; no key bias
               + d * cfg.mlp_dim + cfg.mlp_dim + cfg.mlp_dim * d + d)
  total += cfg.num_layers * per_block + 2 * d  # blocks and the final LayerNorm
  total += d * cfg.head_hidden + cfg.head_hidden + cfg.head_hidden * 256 + 256
  if cfg.local_samples:  # last L samples -> the newest token
    total += cfg.local_samples * d + d
  return total


def test_paper_parameter_count():
  cfg = get_model_config("paper_128k")
  model = CNNTransformerModule(cfg)
  shapes = jax.eval_shape(lambda k: model.init(k, jnp.zeros((1, 1), jnp.int32),
                                                 num_targets=1), jax.random.key(0))
  # 932,512 encoder + 397,312 Transformer + 394,496 head (the paper says 3.14M).
  assert count_params(shapes["params"]) == _analytic_param_count(cfg) == 1_724_320


@pytest.mark.parametrize("name", ["tiny", "odd", "local"])
def test_parameter_count_matches_formula(name):
  _, params = make_model(CONFIGS[name])
  assert count_params(params) == _analytic_param_count(CONFIGS[name])


def test_paper_geometry():
  cfg = get_model_config("paper_128k")
  assert (cfg.num_tokens, cfg.receptive_field, cfg.flatten_positions) == (64, 1999, 24)
  assert cfg.dilations == (1, 2, 6, 12, 36) and cfg.flatten_dilation == 72
  assert get_model_config("paper_500k").num_tokens == 250
  assert get_model_config("million").num_tokens == 500


def _loss(model, params, codes, k, key):
  logits = model.apply({"params": params}, codes, num_targets=k, train=True,
                       rngs={"dropout": key})
  return optax.softmax_cross_entropy_with_integer_labels(logits, codes[:, -k:]).mean()


@pytest.mark.parametrize("name", ["tiny", "odd", "local"])
def test_every_parameter_gets_a_gradient(name, np_rng):
  cfg = CONFIGS[name]
  model, params = make_model(cfg)
  codes = random_codes(np_rng, 2, cfg.context + 40)
  grads = jax.jit(jax.grad(_loss, argnums=1), static_argnums=(0, 3))(
      model, params, codes, 40, jax.random.key(1))
  norms = jax.tree.map(lambda g: float(jnp.linalg.norm(g)), grads)
  for path, norm in jax.tree_util.tree_leaves_with_path(norms):
    assert np.isfinite(norm) and norm > 0, jax.tree_util.keystr(path)


@pytest.mark.parametrize("name", ["tiny", "odd", "local"])
def test_remat_gives_identical_logits_and_gradients(name, np_rng):
  # Rows long enough for 3+ encoder time segments (16 chunks each), and a target
  # block that does not divide batch x K: the padded last block must be dropped.
  cfg = CONFIGS[name]
  k = 40 * cfg.chunk_size + 7
  codes = random_codes(np_rng, 2, cfg.context + k + 3)
  model, params = make_model(cfg)
  loss_and_grad = jax.jit(jax.value_and_grad(
      lambda p, m: optax.softmax_cross_entropy_with_integer_labels(
          m.apply({"params": p}, codes, num_targets=k), codes[:, -k:]).mean()),
      static_argnums=1)
  plain = loss_and_grad(params, model)
  for changes in ({"remat_encoder": True}, {"remat_block": 97},
                  {"remat_encoder": True, "remat_block": 64}):
    remat = CNNTransformerModule(cfg.replace(**changes))
    np.testing.assert_allclose(dense(remat, params, codes, k),
                               dense(model, params, codes, k), rtol=1e-5, atol=1e-5)
    loss, grads = loss_and_grad(params, remat)
    np.testing.assert_allclose(loss, plain[0], rtol=1e-6)
    # Remat and blocks reorder float32 sums over thousands of targets; a leaf's small
    # entries (cancellations) then differ by ~1e-3 of the leaf's scale. A real bug
    # (a padded block counted, a block dropped) moves gradients by percents.
    jax.tree.map(lambda a, b: np.testing.assert_allclose(
        a, b, rtol=1e-4, atol=2e-3 * float(np.abs(b).max())), grads, plain[1])


def test_remat_trains_with_dropout(np_rng):
  cfg = CONFIGS["tiny"].replace(remat_encoder=True, remat_block=50,
                                encoder_dropout=0.2, head_dropout=0.2)
  model, params = make_model(cfg)
  k = 40 * cfg.chunk_size
  codes = random_codes(np_rng, 2, cfg.context + k)
  grads = jax.jit(jax.grad(_loss, argnums=1), static_argnums=(0, 3))(
      model, params, codes, k, jax.random.key(2))
  assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))


def test_bfloat16_compute_keeps_float32_params_and_tracks_float32(np_rng):
  cfg = CONFIGS["paper_encoder"]
  model32, params = make_model(cfg)
  model16 = CNNTransformerModule(cfg.replace(dtype="bfloat16"))
  _, params16 = make_model(cfg.replace(dtype="bfloat16"))
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params16))
  codes = random_codes(np_rng, 2, cfg.context + 16)
  ref = dense(model32, params, codes, 16)
  out = dense(model16, params, codes, 16)
  assert out.dtype == jnp.float32
  assert 0 < rel_err(out, ref) < 0.1  # bf16 really used, yet close
  probs = jax.nn.softmax(ref), jax.nn.softmax(out)
  assert float(jnp.abs(probs[0] - probs[1]).sum(-1).max()) < 0.1
  ctx = left_context(codes, cfg.context, cfg.context)
  assert rel_err(chunked(model16, params, ctx), ref[:, 0]) < 0.1


def test_jit_and_eager_agree(np_rng):
  cfg = CONFIGS["tiny"]
  model, params = make_model(cfg)
  codes = random_codes(np_rng, 2, 150)
  eager = model.apply({"params": params}, codes, num_targets=5)
  assert rel_err(dense(model, params, codes, 5), eager) < 1e-6


class TestDropout:

  def test_train_mode_is_random_but_reproducible(self, np_rng):
    cfg = CONFIGS["tiny"]
    model, params = make_model(cfg)
    codes = random_codes(np_rng, 2, 200)
    run = lambda seed: dense(model, params, codes, 8, train=True,
                             rngs={"dropout": jax.random.key(seed)})
    np.testing.assert_array_equal(run(0), run(0))
    assert float(jnp.abs(run(0) - run(1)).max()) > 1e-3
    assert float(jnp.abs(run(0) - dense(model, params, codes, 8)).max()) > 1e-3

  @pytest.mark.parametrize("rate", list(NO_DROPOUT))
  def test_each_dropout_acts_alone(self, rate, np_rng):
    cfg = CONFIGS["tiny"].replace(**{**NO_DROPOUT, rate: 0.3})
    model, params = make_model(cfg)
    codes = random_codes(np_rng, 2, 200)
    rngs = {"dropout": jax.random.key(5)}
    assert float(jnp.abs(dense(model, params, codes, 8, train=True, rngs=rngs)
                         - dense(model, params, codes, 8)).max()) > 1e-4
    ctx = codes[:, -cfg.context:]
    assert float(jnp.abs(chunked(model, params, ctx, train=True, rngs=rngs)
                         - chunked(model, params, ctx)).max()) > 1e-4

  def test_without_dropout_train_equals_eval(self, np_rng):
    model, params = make_model(CONFIGS["tiny"].replace(**NO_DROPOUT))
    codes = random_codes(np_rng, 2, 200)
    np.testing.assert_array_equal(
        dense(model, params, codes, 8, train=True, rngs={"dropout": jax.random.key(0)}),
        dense(model, params, codes, 8))

  def test_token_dropout_drops_whole_tokens_at_the_paper_rate(self, np_rng):
    cfg = CONFIGS["tiny"].replace(token_dropout=0.1)
    model, params = make_model(cfg)
    codes = random_codes(np_rng, 4, 1000)  # no silence padding: no all-zero tokens
    _, state = model.apply({"params": params}, codes, num_targets=500, train=True,
                           rngs={"dropout": jax.random.key(3)},
                           capture_intermediates=lambda m, _: isinstance(m, nn.Dropout))
    dropped = state["intermediates"]["transformer"]["Dropout_0"]["__call__"][0]
    zero = np.asarray(dropped == 0)          # [B*K, N, D]
    whole = zero.all(-1)
    assert np.array_equal(zero.any(-1), whole)  # a token is dropped entirely or not
    assert 0.08 < whole.mean() < 0.12


class TestBadInput:

  def test_context_not_a_multiple_of_chunk(self):
    with pytest.raises(ValueError, match="context=3000 is not a multiple of chunk_size"
                       "=2000; use 2000 or 4000"):
      get_model_config("paper_128k", context=3000)

  def test_receptive_field_larger_than_chunk(self):
    with pytest.raises(ValueError, match="receptive field of at least 343 samples but "
                       "chunk_size is 64"):
      get_model_config("paper_128k", chunk_size=64, context=128)

  def test_other_fields(self):
    with pytest.raises(ValueError, match="quantization='alaw'"):
      CNNTransformerConfig(quantization="alaw")
    with pytest.raises(ValueError, match="divisible by num_heads"):
      CNNTransformerConfig(num_heads=7)
    with pytest.raises(ValueError, match=r"local_samples=2001 must lie in \[0, "
                       r"chunk_size=2000\]"):
      CNNTransformerConfig(local_samples=2001)
    with pytest.raises(ValueError, match="unknown model preset"):
      get_model_config("huge")

  def test_wrong_inputs(self):
    model, params = make_model(CONFIGS["tiny"])
    with pytest.raises(ValueError, match="exactly context=128"):
      chunked(model, params, jnp.zeros((1, 100), jnp.int32))
    with pytest.raises(TypeError, match="integer codes"):
      dense(model, params, jnp.zeros((1, 100), jnp.float32), 4)
    with pytest.raises(ValueError, match="num_targets=101 must lie in"):
      dense(model, params, jnp.zeros((1, 100), jnp.int32), 101)


def test_flops_per_target_match_the_analytic_encoder_cost():
  cfg = CONFIGS["paper_encoder"]
  model, params = make_model(cfg)
  chunked_flops = flops_per_target(model, params, path="chunked", batch=2)
  dense_flops = flops_per_target(model, params, path="dense", num_targets=256)
  encoder = 2 * cfg.num_tokens * encoder_macs(cfg)  # 2 FLOPs per multiply-add
  assert encoder_macs(cfg) == pytest.approx(197.9e6, rel=1e-3)
  assert encoder < chunked_flops < 1.2 * encoder
  assert dense_flops < chunked_flops / 5
