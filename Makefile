# `make test` is the one command CI runs: it builds .venv from scratch if needed,
# installs the package with its test and bench extras (bench: CPU PyTorch, for the
# reference-model parity test), FluidSynth with its GM soundfont and shellcheck where
# apt works (so the renderer behind the documented results is tested too), and runs
# the whole suite. `make demo` installs only what the main job needs (no PyTorch).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

WORKDIR ?= runs/default
DATA_DIR ?= $(HOME)/tensorflow_datasets

.PHONY: install install-test test bench demo fluidsynth clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	touch $@

$(VENV)/.installed: setup.cfg pyproject.toml $(VENV)/.created
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml $(VENV)/.installed
	$(PY) -m pip install -q -e ".[test,bench]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# shellcheck lints launch/ in the tests (skipped where it cannot be installed).
# Two pytest workers (one module each at a time): most tests wait on single-threaded
# XLA compiles and fresh processes; tests/conftest.py gives every test process one XLA
# compilation cache. From a fresh clone with a cold cache, 14.5-20.5 min of tests on a
# shared 2-core VM (README).
test: install-test fluidsynth
	@command -v shellcheck >/dev/null || { command -v apt-get >/dev/null && \
	  [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq shellcheck >/dev/null) || echo "shellcheck unavailable"; }
	$(PY) -m pytest -q -ra -n 2 --dist loadfile

# FluidSynth and three GM soundfonts (FluidR3, csound's GM bank, TimGM6mb) give the
# built-in set its sampled pianos; without them (no apt, not root) it is rendered with
# the built-in NumPy piano voicings only (the build says which timbres it used).
SOUNDFONTS := /usr/share/sounds/sf2/FluidR3_GM.sf2 /usr/share/sounds/sf2/TimGM6mb.sf2 \
  /usr/share/sounds/sf2/sf_GMbank.sf2
fluidsynth:
	@if command -v fluidsynth >/dev/null && $(foreach f,$(SOUNDFONTS),[ -f $(f) ] &&) true; then \
	  echo "FluidSynth and soundfonts present"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    fluidsynth fluid-soundfont-gm timgm6mb-soundfont csound-soundfont >/dev/null) \
	  || echo "apt failed: the dataset uses the timbres that are installed"; \
	else echo "no apt or not root: the dataset will use the built-in NumPy pianos"; fi

# The main job: install, build the built-in piano set, train the default model, report
# its validation and test NLL against the reference predictors, and continue a test
# prompt (WAV, PNG, and a JSON scoring it and the recording's own continuation against
# the prompt, in $(WORKDIR)/samples).
demo: install fluidsynth
	$(PY) -m audiolm_jax.data.build --dataset music21_piano --variant full --renderer mix \
	  --data_dir $(DATA_DIR)
	$(PY) -m audiolm_jax.train --config configs/default.py --workdir $(WORKDIR) \
	  --config.data.data_dir=$(DATA_DIR)
	$(PY) -m audiolm_jax.evaluate --workdir $(WORKDIR) --split test --max_seconds_per_file 2
	$(PY) -m audiolm_jax.sample --workdir $(WORKDIR) --prompt_split test --seconds 2

# Every benchmark suite on this machine, as committed in benchmarks/results_cpu.json
# (the paper's model and the WaveNet, SampleRNN and SaShiMi baselines at their paper sizes in
# the training and generation suites; about 45 min on 2 CPU cores; the million-sample config is left out of the training
# suite on a CPU, see docs/performance.md), plus the pipeline suite if the built-in set
# is built. On a GPU: python -m audiolm_jax.bench --train_dtype bfloat16 --out FILE.
# The pipeline suite reads the set `make demo` builds (its name lists the timbres used).
BENCH_DATA := $(firstword $(wildcard $(DATA_DIR)/music21_piano/full_mix_*/2.0.0))
bench: install-test
	$(PY) -m audiolm_jax.bench --out benchmarks/results_cpu.json --remat_block 32 \
	  --train_configs configs/paper_128k.py:music21_piano,configs/paper_500k.py:music21_piano,configs/wavenet.py:music21_piano,configs/samplernn.py:music21_piano,configs/sashimi.py:music21_piano \
	  --train_batch 1 --train_steps 1 --generation_models cnn_transformer,wavenet,samplernn,sashimi \
	  --naive_steps 1 --largest_batch 0 $(if $(BENCH_DATA),--dataset_dir $(BENCH_DATA))

clean:
	rm -rf $(VENV) *.egg-info
