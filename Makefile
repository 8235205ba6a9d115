# Set-up and entry points. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := 1

.PHONY: setup browser run test test-kernels bench viz plots compare

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

## Write the synthetic default data, then run the main job (KA: ingest -> train -> evaluate) on it.
run: setup
	$(BIN)/kedro run --pipelines=synthetic
	$(BIN)/kedro run --pipelines=ka

## Headless Chromium for the kedro-viz browser test (Debian package; needs root, else the test is skipped).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium unavailable: the kedro-viz browser test will be skipped"

## The test suite (what CI runs), one worker per core; a single test: $(BIN)/pytest tests/test_x.py::name
test: setup browser
	$(BIN)/pytest --numprocesses=auto --dist=worksteal

## The tests that judge training outcomes, once per CPU kernel set (PyTorch's and oneDNN's); see the README.
test-kernels: setup
	tests/kernel_sets.sh $(BIN)/python

## Static kedro-viz lineage site in build/ (serve it with: python -m http.server -d build)
viz: setup
	PYTHONWARNINGS=ignore $(BIN)/kedro viz build --include-previews

## Every experiment's training/validation curves and the latest run's figures in one page that needs no network
## (Vega inlined from the installed vl-convert-python): open dvc_plots/index.html
plots: setup
	$(BIN)/python -m knowledge_assembly.reports.offline_plots dvc_plots/offline_template.html
	$(BIN)/dvc plots diff $$($(BIN)/dvc exp list --name-only) --html-template dvc_plots/offline_template.html -o dvc_plots

## Every DVC experiment and variant in one line each (<= 120 columns): seed, changed parameters, metrics in %
compare: setup
	@$(BIN)/python -m knowledge_assembly.reports.experiments

## Speed benchmarks; each prints JSON.
bench: setup
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/train_step.py
	$(BIN)/python benchmarks/eval.py
	$(BIN)/python benchmarks/adapt.py
	$(BIN)/python benchmarks/attribute_retrieval.py
