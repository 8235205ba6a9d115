# Set-up and entry points. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := 1

.PHONY: setup run test bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

## Write the synthetic default data, then run the main job (KA: ingest -> train -> evaluate) on it.
run: setup
	$(BIN)/kedro run --pipelines=synthetic
	$(BIN)/kedro run --pipelines=ka

## The test suite (what CI runs).
test: setup
	$(BIN)/pytest

## Speed benchmarks; each prints JSON.
bench: setup
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/train_step.py
	$(BIN)/python benchmarks/eval.py
