"""A PyTorch reference of the paper's model, written from the paper: chunked, literal.

For every target it cuts the context into N chunks, encodes each with strided 1-D
convolutions (reading the chunk's last R samples), flattens, projects to a token, adds
sinusoidal positions, runs pre-LN Transformer blocks and reads the newest token out
through the head. `from_flax` copies our Flax parameters into it, so the two
implementations can be compared number for number and timed side by side.

Needs the optional `bench` extra (`pip install -e ".[bench]"`, CPU torch).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from audiolm_jax.models.cnn_transformer_config import CNNTransformerConfig
from audiolm_jax.models.transformer import sinusoidal_positions

_LN_EPS = 1e-6  # Flax's LayerNorm default


class _Block(nn.Module):

  def __init__(self, cfg: CNNTransformerConfig):
    super().__init__()
    d = cfg.token_dim
    self.heads = cfg.num_heads
    self.ln_attn = nn.LayerNorm(d, eps=_LN_EPS)
    self.query, self.key = nn.Linear(d, d), nn.Linear(d, d, bias=False)
    self.value, self.out = nn.Linear(d, d), nn.Linear(d, d)
    self.ln_mlp = nn.LayerNorm(d, eps=_LN_EPS)
    self.mlp_in, self.mlp_out = nn.Linear(d, cfg.mlp_dim), nn.Linear(cfg.mlp_dim, d)

  def forward(self, x: torch.Tensor, last_only: bool) -> torch.Tensor:
    b, n, d = x.shape
    hd = d // self.heads
    h = self.ln_attn(x)
    q_in, x = (h[:, -1:], x[:, -1:]) if last_only else (h, x)
    split = lambda t: t.reshape(b, t.shape[1], self.heads, hd).transpose(1, 2)
    q, k, v = split(self.query(q_in)), split(self.key(h)), split(self.value(h))
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1) @ v
    x = x + self.out(att.transpose(1, 2).reshape(b, -1, d))
    return x + self.mlp_out(F.gelu(self.mlp_in(self.ln_mlp(x)), approximate="tanh"))


class TorchAudioLM(nn.Module):
  """context codes [B, C] -> logits [B, 256], the paper's way."""

  def __init__(self, cfg: CNNTransformerConfig):
    super().__init__()
    if cfg.local_samples:
      raise ValueError(f"the PyTorch reference is the paper's model: local_samples "
                       f"must be 0, got {cfg.local_samples}")
    self.cfg = cfg
    convs, c_in = [], 1
    for features, stride in zip(cfg.conv_features, cfg.conv_strides):
      convs.append(nn.Conv1d(c_in, features, cfg.conv_kernel, stride=stride))
      c_in = features
    self.convs = nn.ModuleList(convs)
    self.proj = nn.Linear(cfg.flatten_positions * c_in, cfg.token_dim)
    self.register_buffer("positions", torch.from_numpy(
        sinusoidal_positions(cfg.num_tokens, cfg.token_dim)))
    self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.num_layers))
    self.ln_final = nn.LayerNorm(cfg.token_dim, eps=_LN_EPS)
    self.hidden = nn.Linear(cfg.token_dim, cfg.head_hidden)
    self.logits = nn.Linear(cfg.head_hidden, cfg.num_classes)

  def forward(self, codes_BxC: torch.Tensor) -> torch.Tensor:
    cfg = self.cfg
    b = codes_BxC.shape[0]
    x = codes_BxC.float() / 128.0 - 1.0
    x = x.reshape(b * cfg.num_tokens, 1, cfg.chunk_size)[..., -cfg.receptive_field:]
    for conv in self.convs:
      x = F.relu(conv(x))
    tokens = self.proj(x.transpose(1, 2).reshape(b * cfg.num_tokens, -1))
    h = tokens.reshape(b, cfg.num_tokens, -1) + self.positions[None]
    for i, block in enumerate(self.blocks):
      h = block(h, last_only=i == len(self.blocks) - 1)
    h = self.ln_final(h)[:, -1]
    return self.logits(F.relu(self.hidden(h)))


def from_flax(cfg: CNNTransformerConfig, params) -> TorchAudioLM:
  """A TorchAudioLM holding a copy of Flax `CNNTransformerModule` parameters."""
  t = lambda a: torch.from_numpy(np.array(a, np.float32))
  model = TorchAudioLM(cfg)
  enc = params["encoder"]
  with torch.no_grad():
    for i, conv in enumerate(model.convs):
      conv.weight.copy_(t(enc[f"conv{i}_kernel"]).permute(2, 1, 0))
      conv.bias.copy_(t(enc[f"conv{i}_bias"]))
    _linear(model.proj, t(enc["proj_kernel"]), t(enc["proj_bias"]))
    tr = params["transformer"]
    for i, block in enumerate(model.blocks):
      p = tr[f"block{i}"]
      d = cfg.token_dim
      for name in ("query", "key", "value"):
        a = p["attn"][name]
        bias = t(a["bias"]).reshape(d) if "bias" in a else None
        _linear(getattr(block, name), t(a["kernel"]).reshape(d, d), bias)
      _linear(block.out, t(p["attn"]["out"]["kernel"]).reshape(d, d),
              t(p["attn"]["out"]["bias"]))
      for name in ("ln_attn", "ln_mlp"):
        getattr(block, name).weight.copy_(t(p[name]["scale"]))
        getattr(block, name).bias.copy_(t(p[name]["bias"]))
      for name in ("mlp_in", "mlp_out"):
        _linear(getattr(block, name), t(p[name]["kernel"]), t(p[name]["bias"]))
    model.ln_final.weight.copy_(t(tr["ln_final"]["scale"]))
    model.ln_final.bias.copy_(t(tr["ln_final"]["bias"]))
    head = params["head"]
    _linear(model.hidden, t(head["hidden"]["kernel"]), t(head["hidden"]["bias"]))
    _linear(model.logits, t(head["logits"]["kernel"]), t(head["logits"]["bias"]))
  return model.eval()


def _linear(layer: nn.Linear, kernel_IxO: torch.Tensor, bias: torch.Tensor | None):
  layer.weight.copy_(kernel_IxO.T)
  if bias is not None:
    layer.bias.copy_(bias)
