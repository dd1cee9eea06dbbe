"""Table 1 and the context claim on the built-in set, sized for a 2-core CPU.

  python -m audiolm_jax.study --config configs/study/table1_cpu.py --workdir runs/t1

The paper's model as configs/default.py:cpu (chunks of 500 samples) at contexts of 1, 2,
4, 8, 16, 32 and 64 tokens, and WaveNet, SampleRNN and SaShiMi at their `:cpu` sizes
(within 10 % of its 240k parameters), each trained on the same 1,433,600 targets
(350 steps of 4,096: half of the `:cpu` budget, with its schedule halved) of
SaShiMi's data (the `sashimi` recipe, so that both protocols apply). Scored on the
test split: `full` on the first 4 s of each file and `sashimi` on the first 131,072-
sample chunk of each (24 chunks); the two differ only in how much of each file they
read, since a file's first chunk starts with the file.

It writes results as it goes and resumes; its results and what it took are in
docs/studies.md.
"""

import ml_collections

TOKENS = (1, 2, 4, 8, 16, 32, 64)
CHUNK = 500


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = "table1_cpu"
  c.budget_targets = 350 * 4096
  c.common = {
      # The single-piano set (FluidR3, or the NumPy piano without FluidSynth): the
      # multi-timbre default set holds a piano out of its test split.
      "data": {"recipe": "sashimi", "renderer": "auto"},
      "optimizer": {"warmup_steps": 25, "decay_step": 275},   # default's, halved
      "eval_every": 0, "checkpoint_every": 50,
  }
  c.eval = ml_collections.ConfigDict(dict(
      split="test", protocols=("full", "sashimi"),
      max_seconds_per_file={"full": 4.0, "sashimi": 8.192},
      num_targets=16_384, batch=1, truncated_positions=2000,
      short_past_samples=max(TOKENS) * CHUNK))
  runs = [dict(name=f"paper_{t}tok", config="configs/default.py:cpu", group="context",
               x=t, overrides={"model.context": t * CHUNK})
          for t in TOKENS]
  runs += [dict(name=name, config=f"configs/{name}.py:cpu", group="family", x=name)
           for name in ("wavenet", "samplernn", "sashimi")]
  # The paper's model at the default's 8 tokens doubles as its family's bar.
  runs[TOKENS.index(8)]["family_bar"] = True
  c.runs = runs
  return c
