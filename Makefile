# svdhub: one entry point for developers and CI. `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
OPA    := $(or $(SVDHUB_TOOLS),.hub/tools)/bin/opa
STAMP  := $(VENV)/.installed

.PHONY: help setup up down status demo test test-fast bench soak check fix clean

help: ## Show this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-zA-Z_-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

setup: $(STAMP) ## Create .venv, install dependencies, fetch Kafka (Maven) and build OPA (go install)
	$(BIN)/svdhub stack install

up: setup ## Start Kafka, OPA and PostgreSQL; write .hub/stack.env
	$(BIN)/svdhub stack up

down: ## Stop the processes the stack started
	@if [ -x $(BIN)/svdhub ]; then $(BIN)/svdhub stack down; else echo "nothing to stop (no .venv)"; fi

status: $(STAMP) ## Show each service as up or down, with version and address
	$(BIN)/svdhub stack status

demo: setup ## Bring the stack up and run the hub end to end on synthetic data
	$(BIN)/svdhub demo

test: setup ## Run the whole suite against real Kafka, OPA and PostgreSQL
	$(BIN)/pytest --durations=25

test-fast: $(STAMP) ## Run the tests that need no services (seconds)
	$(BIN)/pytest -q -m "not needs_services and not slow"

bench: setup ## Run the benchmarks; report in .hub/bench/ (ratios against same-run baselines)
	$(BIN)/python -m tests.bench

soak: setup ## Fault injection (SIGKILLs, a broker restart, OPA down), then 1,000 malformed messages per topic
	$(BIN)/python -m tests.soak

check: setup ## Lint, type-check, import contracts, schema compatibility, policies (changes nothing)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/svdhub schemas check
	$(BIN)/svdhub policy check
	$(BIN)/svdhub policy test

fix: setup ## Apply ruff fixes and formatting, and opa fmt
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(OPA) fmt --write policies/svd policies/system

clean: down ## Remove the virtualenv and all local state (.hub/)
	@# --purge also deletes PostgreSQL's data when it had to live under /var/tmp (run as root).
	@if [ -x $(BIN)/svdhub ]; then SVDHUB_HOME=$(CURDIR)/.hub $(BIN)/svdhub stack down --purge; fi
	rm -rf $(VENV) .hub
