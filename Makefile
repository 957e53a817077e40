# Whistle — one command surface. `make help` lists the targets.
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
PYTEST  = $(BIN)/python -m pytest
STAMP   = $(VENV)/.installed
# The benchmark runs on an interpreter built as production's is. The image (python:3.11-slim) and
# Debian's python3.11 are built with profile-guided and link-time optimisation; pyenv's default
# build is not, and costs some 5–8 % more CPU for the same work (bench/README.md, "The
# interpreter"). Override with BENCH_PYTHON=...; without Debian's, the bench uses $(PYTHON).
BENCH_PYTHON ?= $(or $(shell /usr/bin/python3.11 -c 'import ensurepip, venv' 2>/dev/null && echo /usr/bin/python3.11),$(PYTHON))
BENCH_VENV   ?= .venv-bench
BENCH_STAMP   = $(BENCH_VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit test-integration test-e2e test-faults lint bench bench-quick contract clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (Python 3.11+)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install Whistle with its test tools

run: $(STAMP) ## run the whole platform in one process on :8000 (whistle dev)
	$(BIN)/whistle dev --port $${PORT:-8000} --data-dir $${DATA_DIR:-var}

test: $(STAMP) ## every test tier (broker/PostgreSQL tests skip when absent, fail with WHISTLE_REQUIRE_BROKER=1)
	$(PYTEST) tests -q

test-unit: $(STAMP) ## fast tests, no I/O
	$(PYTEST) tests/unit -q

test-integration: $(STAMP) ## against the real PostgreSQL and RabbitMQ
	$(PYTEST) tests/integration -q

test-e2e: $(STAMP) ## services as real processes
	$(PYTEST) tests/e2e -q

test-faults: $(STAMP) ## the bus under faults: processes killed, broker and PostgreSQL restarted (needs both)
	WHISTLE_REQUIRE_BROKER=1 $(PYTEST) tests/integration/faults -q

lint: $(STAMP) ## ruff check and ruff format --check
	$(BIN)/ruff check services tests bench tools
	$(BIN)/ruff format --check services tests bench tools

contract: $(STAMP) ## check a running server against docs/api.md (BASE_URL=http://127.0.0.1:8000)
	$(BIN)/python tools/contract.py $${BASE_URL:-http://127.0.0.1:8000}

$(BENCH_STAMP): pyproject.toml
	$(BENCH_PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) ## the benchmark: the platform as real processes under load (bench/README.md)
	$(BENCH_VENV)/bin/python -m bench

bench-quick: $(BENCH_STAMP) ## the benchmark in under two minutes
	$(BENCH_VENV)/bin/python -m bench --quick

clean: ## remove the venv and local data
	rm -rf $(VENV) $(BENCH_VENV) var .pytest_cache
