"""Writes notebooks/demo.ipynb (outputs stripped) from the cells below.

    python notebooks/make_demo.py
"""

import os

import nbformat as nbf

CELLS = [
    ("md", """# audiolm_jax: a raw-audio language model with a long context, in JAX

This notebook builds the built-in piano dataset, listens to it, trains a small version
of Verma's model on it (a CNN turns 500-sample chunks into tokens, a Transformer reads
them and predicts the next sample as one of 256 mu-law codes), compares its NLL with
three reference predictors, continues a test-set prompt from the same dataset, and
shows the project's core idea: the **dense** computation that equals the paper's
chunk-by-chunk one.

**Time:** on a 2-core CPU, top to bottom in 9 min 11 s, measured in a fresh Python
environment with a fresh data folder: installing the package 50 s, building the
dataset 2 min 8 s, training 1,000 steps 5 min 15 s, evaluating 26 s, generating 13 s.
A GPU runtime gets larger settings (the parameter cell).

**To run it** in a fresh runtime (Colab or any Jupyter): set `SOURCE` in the next
cell to where the package is (a checkout folder, a wheel file, or a git URL of the
repository), then run all cells. Run from a checkout's `notebooks/` folder, it finds
the checkout itself."""),
    ("code", """# Parameters. CI sets AUDIOLM_NOTEBOOK_REDUCED=1 to run a tiny version in seconds.
import os
# Where to install audiolm_jax from: a checkout folder ("/content/audiolm_jax"), a wheel
# ("audiolm_jax-0.1.0-py3-none-any.whl") or a git URL ("git+https://HOST/OWNER/audiolm_jax").
# Empty: an installed audiolm_jax, else the checkout this notebook sits in.
SOURCE = os.environ.get("AUDIOLM_SOURCE", "")
REDUCED = os.environ.get("AUDIOLM_NOTEBOOK_REDUCED") == "1"
WORKDIR = os.environ.get("AUDIOLM_NOTEBOOK_WORKDIR", "/tmp/audiolm_demo")
DATA_DIR = os.environ.get("AUDIOLM_DATA_DIR", os.path.expanduser("~/tensorflow_datasets"))
# The model family: "cnn_transformer" (the paper's, configs/default.py), or a Table 1
# baseline at the same size: "wavenet", "samplernn" or "sashimi" (configs/X.py:size=cpu).
MODEL = os.environ.get("AUDIOLM_NOTEBOOK_MODEL", "cnn_transformer")"""),
    ("code", """# Install. Where apt works as root (Colab), FluidSynth and the soundfonts the
# built-in set's pianos need; without them it renders with the built-in NumPy pianos.
import importlib.util, shutil, subprocess, sys
if shutil.which("apt-get") and os.geteuid() == 0 and not shutil.which("fluidsynth"):
    subprocess.run("apt-get -qq update && apt-get -qq install -y fluidsynth "
                   "fluid-soundfont-gm timgm6mb-soundfont csound-soundfont > /dev/null",
                   shell=True, check=False)
if not SOURCE and importlib.util.find_spec("audiolm_jax") is None:
    if os.path.isfile("../setup.cfg"):
        SOURCE = ".."  # this notebook's own checkout
    else:
        raise RuntimeError("audiolm_jax is not installed: set SOURCE in the cell above "
                           "to a checkout folder, a wheel or a git URL of the repository")
if SOURCE:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", SOURCE], check=True)
    importlib.invalidate_caches()
import jax
ON_GPU = jax.default_backend() == "gpu"
print("JAX", jax.__version__, "on", jax.default_backend(), jax.devices())"""),
    ("md", "## The config: one model, one dataset\n\nThe config names the dataset; the "
           "notebook builds that dataset, trains on it and takes its prompt from it."),
    ("code", """from audiolm_jax.training import config as train_config
from audiolm_jax.training import config_loader
CONFIG_FILE = {"cnn_transformer": "default.py", "wavenet": "wavenet.py",
               "samplernn": "samplernn.py", "sashimi": "sashimi.py"}[MODEL]
if MODEL == "cnn_transformer":
    config = config_loader.load_config_file(
        f"configs/{CONFIG_FILE}:size=tiny" if REDUCED else f"configs/{CONFIG_FILE}")
else:
    config = config_loader.load_config_file(f"configs/{CONFIG_FILE}:size=cpu")
    if REDUCED:
        config.data.variant, config.data.renderer = "tiny", "numpy"
        config.num_targets, config.checkpoint_every = 256, 20
        if MODEL in ("samplernn", "sashimi"):
            config.model.eval_context = 1_000
        if MODEL == "sashimi":
            config.batch_size = 2
        if MODEL == "wavenet":
            config.model.blocks = 1  # receptive field 1,024: compiles in seconds
config.data.data_dir = DATA_DIR
config.data.worker_count = 0
if REDUCED:
    config.num_steps, config.eval_every = 40, 20
elif ON_GPU:
    config.batch_size, config.num_steps, config.eval_every = 32, 2000, 500
else:  # the work of 500 steps of 8 windows: about half of `make demo`'s training
    config.num_steps = 500 * 8 // config.batch_size
    config.eval_every = config.num_steps // 2
print(f"{MODEL}: {config.num_steps:,} steps of {config.batch_size} windows x "
      f"{config.num_targets:,} targets on {config.data.dataset} "
      f"({config.data.variant}, renderer {config.data.renderer})")"""),
    ("md", "## The data: real music, rendered offline\n\nBach chorales and solo keyboard "
           "pieces from the music21 corpus, humanized and played on several pianos in "
           "several rooms and at several levels (FluidSynth's soundfonts where installed, "
           "and the built-in NumPy pianos); one piano is held out for validation and test."),
    ("code", """from audiolm_jax.data import datasets, pipeline
from audiolm_jax.data import quantization
path = datasets.build(train_config.to_dataset_spec(config), DATA_DIR)
print(datasets.describe(path))"""),
    ("code", """import numpy as np
from IPython.display import Audio, display
train = pipeline.FlatSplit(path, "train", config.data.recipe)
clip = quantization.decode(np.asarray(train.file(0)[:16_000 * 5]))
print(train.names[0], f"{len(clip) / 16_000:.1f} s")
display(Audio(clip, rate=16_000))"""),
    ("md", "## Train\n\n`train_and_evaluate` is the same function the command line "
           "calls: sharded jitted steps, Orbax checkpoints (run the cell again to "
           "resume), metrics in `WORKDIR/metrics.jsonl`."),
    ("code", """from audiolm_jax.training.loop import train_and_evaluate
RUN_DIR = os.path.join(WORKDIR, MODEL)
result = train_and_evaluate(config, RUN_DIR)
result["validation"]"""),
    ("code", """import json, matplotlib.pyplot as plt
rows = [json.loads(l) for l in open(os.path.join(RUN_DIR, "metrics.jsonl"))]
tr = [(r["step"], r["loss_bits"]) for r in rows if r["split"] == "train"]
va = [r for r in rows if r["split"] == "validation"]
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.plot(*zip(*tr), label="train loss")
ax.plot([r["step"] for r in va], [r["nll_bits"] for r in va], "o-",
        label="validation NLL")
ax.axhline(va[-1]["previous_sample_bits"], color="grey", ls="--",
           label="previous-sample reference")
ax.axhline(va[-1]["linear_prediction_bits"], color="grey", ls=":",
           label="linear-prediction reference")
ax.set_xlabel("step"); ax.set_ylabel("bits per sample"); ax.legend(); plt.show()"""),
    ("md", "## Evaluate\n\nNLL in bits per sample on the test split (`full` protocol: every "
           "sample with all its left context), with the three reference predictors."),
    ("code", """from audiolm_jax.evaluation.runs import EvalConfig, evaluate_run, format_table
res = evaluate_run(RUN_DIR, EvalConfig(split="test", show_progress=False,
                                       max_seconds_per_file=0.5 if REDUCED else 2))
print(format_table(res))"""),
    ("md", "## Generate\n\nCached generation: per-layer ring buffers make each new sample "
           "cost one position of the conv stack plus one Transformer pass."),
    ("code", """import jax
from audiolm_jax.generation import sampler
from audiolm_jax.checkpoints.run import open_run
from audiolm_jax.generation.comparison import (compare, format_comparison,
                                               spread_report, yardstick)
from audiolm_jax.generation.prompts import load_prompt, real_continuation
run = open_run(RUN_DIR)
model, params = run.model, run.params
prompt, what = load_prompt(None, model, dataset_dir=path, split="test", seconds=1.0)
seconds = 0.1 if REDUCED else 2.0
options = sampler.SamplingOptions(temperature=0.9, top_p=0.95)
codes = sampler.generate(model, params, jax.random.key(0),
                         num_samples=int(16_000 * seconds),
                         prompt_BxP=prompt[None].astype(np.int32),
                         block=1600, options=options)
audio = quantization.decode(np.concatenate([prompt, codes[0].astype(np.uint8)]),
                           model.quantization)
print("prompt:", what)
# Flatness, level and band envelope against the prompt's, and what the recording's own
# continuation scores: the yardstick (docs/generation.md).
real = real_continuation(path, "test", prompt_seconds=1.0, seconds=seconds)
report = compare(audio, prompt.size, yardstick(prompt, real, model.quantization))
# How unsure the model was along its continuation and along the recording's own, and
# the flatness that spread implies (docs/generation.md).
(report["uncertainty"],) = spread_report(model, params, prompt, [codes[0].astype(np.uint8)],
                                         options, real, report["prompt"]["median_flatness"])
print(format_comparison(report))
display(Audio(audio, rate=16_000))"""),
    ("code", """fig, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
t = np.arange(len(audio)) / 16_000
axes[0].plot(t, audio, lw=0.4); axes[0].set_ylabel("amplitude")
axes[1].specgram(audio + 1e-7, NFFT=512, Fs=16_000, noverlap=384, cmap="magma")
for ax in axes:
    ax.axvspan(0, len(prompt) / 16_000, color="grey", alpha=0.3)
axes[1].set_xlabel("seconds (grey: prompt)"); plt.show()"""),
    ("md", """## Why the dense computation is exact

The paper predicts sample *t* from N chunks of 2000 samples that end right before
*t*, each encoded by the same CNN. The next target, *t + 1*, reads chunks shifted by
one sample: almost the same audio. Run the CNN once over the whole window as a
stride-1 convolution stack with dilations equal to the cumulative strides, and the
encoding of *every* chunk end is computed at once; target *t* then gathers its N tokens
at positions *t*, *t* - 2000, ... . Same weights, same arithmetic, a few hundred times
fewer FLOPs per target."""),
    ("code", """# The chunks three neighbouring targets read (the paper's model only).
from audiolm_jax.models.cnn_transformer_config import CNNTransformerConfig
mcfg = model.config if isinstance(model.config, CNNTransformerConfig) else CNNTransformerConfig(
    chunk_size=500, context=4_000, conv_features=(64, 64, 32, 32, 16))
fig, ax = plt.subplots(figsize=(10, 2.6))
S, N = mcfg.chunk_size, mcfg.num_tokens
for row, target in enumerate([N * S, N * S + 1, N * S + 2]):
    for k in range(N):
        end = target - (N - 1 - k) * S
        ax.add_patch(plt.Rectangle((end - mcfg.receptive_field, row), mcfg.receptive_field,
                                   0.8, alpha=0.35, color=f"C{k % 10}"))
    ax.plot(target, row + 0.4, "k>", ms=6)
ax.set_xlim(0, (N + 1) * S); ax.set_ylim(0, 3); ax.set_yticks([0.4, 1.4, 2.4])
ax.set_yticklabels(["target t", "t + 1", "t + 2"])
ax.set_xlabel("sample index: each bar is one chunk a target reads"); plt.show()"""),
    ("code", """# Live check: the dense path equals one target at a time (for the paper's model,
# its literal chunked path) to float32 rounding.
import jax.numpy as jnp
C = model.left_context
row = jnp.asarray(np.asarray(train.file(0)[: (C or 2_000) + 64])[None], jnp.int32)
dense = model.logits(params, row, num_targets=8)    # the dense path
past = lambda t: row[:, t - C:t] if C else row[:, :t]  # a recurrent model: all of it
chunked = jnp.stack([model.target_logits(params, past(t))[0]
                     for t in range(row.shape[1] - 8, row.shape[1])])  # one at a time
err = float(jnp.max(jnp.abs(dense[0] - chunked)) / jnp.max(jnp.abs(chunked)))
print(f"max relative difference: {err:.2e}")
assert err < 1e-5"""),
]


def main() -> None:
  nb = nbf.v4.new_notebook()
  nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                               "language": "python"}
  nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else
              nbf.v4.new_code_cell(src) for kind, src in CELLS]
  for i, cell in enumerate(nb.cells):  # fixed ids: regenerating changes no line
    cell.id = f"cell-{i:02d}"
  out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.ipynb")
  nbf.write(nb, out)
  print("wrote", out)


if __name__ == "__main__":
  main()
