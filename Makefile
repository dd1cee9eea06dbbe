# `make test` is the one command CI runs: it builds .venv from scratch if needed,
# installs the package with its test extra, and runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q -ra

bench: install
	$(PY) benchmarks/chunked_vs_dense.py

clean:
	rm -rf $(VENV) *.egg-info
