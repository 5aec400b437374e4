# oncoatlas — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEMO := data/demo
TORCH_VERSION ?= 2.13.0
PYTEST_ARGS ?=

.PHONY: install demo demo-data test lint typecheck pytest browser-deps lab bench clean help

help:
	@echo "make demo   - install, generate the demo federation, start nodes and dashboards"
	@echo "make test   - install, lint, type-check and run the test suite"
	@echo "make lab    - JupyterLab on the curated notebooks"
	@echo "make bench  - run the benchmarks and print their figures"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# The CPU wheel of torch first: a plain `torch` requirement would pull a CUDA build.
	$(PIP) install --quiet "torch==$(TORCH_VERSION)"
	$(PIP) install --quiet -e ".[all,dev]"
	@touch $(STAMP)

install: $(STAMP)

$(DEMO)/federation.yaml: | $(STAMP)
	$(VENV)/bin/oncoatlas demo generate --out $(DEMO) --size small

demo-data: $(DEMO)/federation.yaml

demo: install demo-data
	$(VENV)/bin/oncoatlas demo up $(DEMO) --port 5006

# Headless Chromium for the dashboard tests (Debian packages; never `playwright install`).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq || sudo apt-get update -qq) && \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-dejavu-core \
	   || sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-dejavu-core); }

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

typecheck: install
	$(VENV)/bin/mypy

pytest: install browser-deps
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

lab: install demo-data
	$(VENV)/bin/jupyter lab notebooks

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) data/demo .pytest_cache .mypy_cache .ruff_cache
