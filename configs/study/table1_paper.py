"""Table 1 and the context claim at the paper's sizes, for GPU machines.

  python -m audiolm_jax.study --config configs/study/table1_paper.py:dataset=DATASET \
      --workdir runs/t1_paper [--shard K/N]   # DATASET: youtube_mix (default) or any

The paper's model at 128k, 500k and 1M samples of context (configs/paper_128k.py,
paper_500k.py, million.py) and WaveNet, SampleRNN and SaShiMi at their published
sizes (configs/wavenet.py, samplernn.py, sashimi.py), every run on the same
20,480,000,000 training targets (the paper's 500,000 steps of 40 windows x 1,024
targets; the least common multiple of every run's targets per step divides it) of
SaShiMi's data (the `sashimi` recipe), scored on whole test files under `full` and
`sashimi`. Spread the six runs over machines with --shard K/N (a shared workdir).

What it needs (docs/studies.md, "The paper-scale study"): the 1M run trains with
rematerialization; FLOPs per target from the CPU benchmarks (dense K = 1,024, fwd+bwd:
0.84 / 3.39 / 7.19 GFLOP at 128k / 500k / 1M) put the three paper-model runs at about
12, 48 and 100 GPU-hours on one H100 at 40 % of its bf16 peak.
"""

import ml_collections

from audiolm_jax.training import config_args

PAPER = (("paper_128k", "configs/paper_128k.py", 64),
         ("paper_500k", "configs/paper_500k.py", 250),
         ("paper_1m", "configs/million.py", 500))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  dataset = config_args.parse(arg, "configs/study/table1_paper.py", {
      "dataset": config_args.dataset_choices("youtube_mix")})["dataset"]
  c = ml_collections.ConfigDict()
  c.name = f"table1_paper ({dataset})"
  c.budget_targets = 500_000 * 40 * 1024
  c.common = {"data": {"recipe": "sashimi"}}
  c.eval = ml_collections.ConfigDict(dict(
      split="test", protocols=("full", "sashimi"), max_seconds_per_file=None,
      num_targets=16_384, batch=1, truncated_positions=2000,
      short_past_samples=1_000_000))
  runs = [dict(name=name, config=f"{path}:dataset={dataset}", group="context", x=tokens,
               family_bar=name == "paper_128k") for name, path, tokens in PAPER]
  runs += [dict(name=name, config=f"configs/{name}.py:dataset={dataset}", group="family",
                x=name) for name in ("wavenet", "samplernn", "sashimi")]
  c.runs = runs
  return c
