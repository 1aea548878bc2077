# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
SNAKEMAKE_ARGS ?=
PYTEST_ARGS ?=
PIP := $(BIN)/python -m pip --disable-pip-version-check
export PIP_PROGRESS_BAR := off

.PHONY: run test lint bench install constraints clean

# The virtual environment, created when missing.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Pinned dependencies (constraints.txt) and dpsim itself, in editable mode.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q -c constraints.txt pip
	$(PIP) install -q -c constraints.txt -e '.[workflow]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -c constraints.txt -e '.[workflow,test]'
	touch $@

install: $(VENV)/.installed

## make run: the whole workflow on config/config.yaml (offline demo)
run: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) --show-failed-logs $(SNAKEMAKE_ARGS)

## make lint: ruff (lint + format), mypy on src/ (settings in pyproject.toml), snakemake --lint
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python scripts/lint_workflow.py
	$(BIN)/python scripts/lint_workflow.py --workflow-profile profiles/slurm

## make test: lint, then the full pytest suite (slow and workflow tests included)
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: speed ratios against baselines run in the same process -> benchmarks/results/*.json
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run.py --out benchmarks/results

## make constraints: re-pin every package version from the current .venv
constraints: $(VENV)/.installed-test
	{ echo "# Every package version dpsim is tested with (pip freeze of .venv), used as"; \
	  echo "# pip -c constraints.txt by the Makefile and CI. Regenerate with: make constraints"; \
	  $(PIP) freeze --all --exclude-editable | grep -v '^dpsim'; } > constraints.txt

clean:
	rm -rf results logs .snakemake reports/report.html benchmarks/results
