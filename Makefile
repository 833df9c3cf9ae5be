# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
NFD     = $(VENV)/bin/neurofacedis
DEMO_OUT ?= demo-output

.PHONY: demo test venv install install-test lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# torch first, exactly this version: a CPU wheel (any other request pulls a multi-GB CUDA build)
	$(PIP) install torch==2.13.0

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/bin/python pyproject.toml
	$(PIP) install -e ".[test,dask,landmarks]"
	touch $@ $(VENV)/.installed

venv: $(VENV)/bin/python
install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(NFD) demo --out $(DEMO_OUT)

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-test
	$(VENV)/bin/ruff check neurofacedis plugins tests

bench: install-test
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) build dist .pytest_cache
