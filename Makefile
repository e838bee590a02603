# cashback-accrual: every command a developer, CI and the README use.
# `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# NATIVE=0 skips the Rust accelerator (workers/native): everything then runs on the Python
# engine, and the tests stop requiring the native one.
NATIVE ?= 1
NATIVE_STAMP := $(VENV)/.native
NATIVE_SOURCES := $(wildcard workers/native/src/*.rs) workers/native/Cargo.toml workers/native/Cargo.lock workers/native/pyproject.toml
# rustup installs cargo here without always putting it on PATH
export PATH := $(HOME)/.cargo/bin:$(PATH)
# One cargo target directory for every clone, with the other built tools: a fresh clone
# (CI) compiles only the crate itself, not its ~100 dependencies three times (the wheel,
# clippy, the tests).
export CARGO_TARGET_DIR ?= $(or $(CASHBACK_TOOLS_DIR),$(HOME)/.cache/cashback-accrual)/cargo-target
export CASHBACK_REQUIRE_NATIVE := $(NATIVE)

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

# The venv installs exactly uv.lock (hashes checked; every extra, plus the build tools), then
# the project itself, editable. `make lock` refreshes uv.lock after a pyproject.toml change.
UV_VERSION := 0.13.8
UV := $(BIN)/uv

$(UV):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version' 
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"

$(STAMP): pyproject.toml uv.lock | $(UV)
	@$(UV) lock --check --offline -q 2>/dev/null || { echo "uv.lock disagrees with pyproject.toml: run make lock" >&2; exit 1; }
	$(UV) export --frozen --no-emit-project --all-extras --group build --format requirements-txt -q -o $(VENV)/requirements.txt
	$(BIN)/python -m pip install -q --require-hashes -r $(VENV)/requirements.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

$(NATIVE_STAMP): $(STAMP) $(NATIVE_SOURCES)
	@command -v cargo >/dev/null || { echo "the native engine needs Rust's cargo (https://rustup.rs); or run with NATIVE=0" >&2; exit 1; }
	@echo "building the native engine (workers/native, Rust; about a minute the first time)"
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pip install -q --force-reinstall --no-deps --no-build-isolation ./workers/native
	@touch $@

install: $(STAMP) $(if $(filter 1,$(NATIVE)),$(NATIVE_STAMP)) ## create .venv with the `cashback` CLI, the dev tools and the native engine

lint: install ## ruff lint and format check (and rustfmt, clippy for the native engine)
	$(BIN)/ruff check workers tests benchmarks
	$(BIN)/ruff format --check workers tests benchmarks
ifeq ($(NATIVE),1)
	cd workers/native && cargo fmt --check
	cd workers/native && cargo clippy --release --quiet -- -D warnings
endif

fmt: install ## apply ruff format and safe fixes
	$(BIN)/ruff format workers tests benchmarks
	$(BIN)/ruff check --fix workers tests benchmarks

typecheck: install ## mypy --strict on workers/
	$(BIN)/mypy --strict workers

test-unit: install ## the fast tests only (no broker, no Kubernetes tools)
	@bash .ci/pytest.sh -m "not kafka and not deploy" $(PYTEST_ARGS)

test-kafka: install ## the broker tests only (starts a local broker unless KAFKA_BOOTSTRAP_SERVERS is set)
	@bash .ci/pytest.sh -m kafka $(PYTEST_ARGS)

deploy-tools: install ## helm, kubeconform, kwok, etcd, kube-apiserver & co. for test-deploy (built once, cached outside the tree)
	@bash deploy/tools/install.sh $(BIN)/python

test-deploy: deploy-tools ## the Helm chart and its Kubernetes checks (pytest -m deploy: helm, kubeconform, a real kube-apiserver)
	@bash .ci/pytest.sh -m deploy $(PYTEST_ARGS)

test: lint typecheck hadolint deploy-tools container-prereqs kstreams-build ## lint, typecheck and the whole suite: broker, deploy and container tests included
ifeq ($(NATIVE),1)
	cd workers/native && cargo test --release --quiet
endif
	@bash .ci/pytest.sh $(PYTEST_ARGS)

kafka-up: install ## start the local single-node KRaft broker (writes .kafka/bootstrap)
	$(BIN)/python -m cashback.devtools.local_kafka up

kafka-down: install ## stop the local broker started by kafka-up
	$(BIN)/python -m cashback.devtools.local_kafka down

# The fault matrix (tests/faults): every fault as its own cell on 100,000 events, both
# guarantees; the verdicts go to docs/reliability.md. `make test` runs a reduced matrix.
FAULTS_RESULTS := $(or $(CASHBACK_FAULTS_RESULTS),$(CURDIR)/.pytest_cache/faults.jsonl)
faults: install ## the full fault matrix (about 20 min); writes its table to docs/reliability.md
	@mkdir -p $(dir $(FAULTS_RESULTS)) && rm -f $(FAULTS_RESULTS)
	@rc=0; CASHBACK_FAULTS=full CASHBACK_FAULTS_RESULTS=$(FAULTS_RESULTS) \
	  bash .ci/pytest.sh tests/faults -m faults $(PYTEST_ARGS) || rc=$$?; \
	  $(BIN)/python tests/faults/fault_report.py $(FAULTS_RESULTS) docs/reliability.md; exit $$rc

SOAK_MINUTES ?= 20
soak: install ## the worker at a fixed rate for SOAK_MINUTES, killed and its broker bounced; plot in docs/
	@$(BIN)/python -c 'import matplotlib' 2>/dev/null || $(BIN)/python -m pip install -q -e '.[soak]'
	$(BIN)/python -m benchmarks.soak --minutes $(SOAK_MINUTES)

.PHONY: faults soak

demo: install ## the main job: local broker, topics, rules, worker, sample stream, summary (RUNTIME=faust for the faust runtime)
	$(BIN)/python -m cashback.devtools.demo $(if $(RUNTIME),--runtime $(RUNTIME),)

bench-core: install ## pricing speed and scaling curves, compile time, swap stall, no Kafka (QUICK=1: smoke run)
	$(BIN)/python -m benchmarks.core $(if $(QUICK),--quick --json benchmarks/.work/core_results.json,--json benchmarks/core_results.json)

bench: install ## benchmarks (QUICK=1 for a short run)
	$(BIN)/python -m benchmarks.run $(if $(QUICK),--quick,)

# The Kafka Streams run of make bench (benchmarks/kstreams): compiled by Maven once into
# $CASHBACK_TOOLS_DIR/kstreams/, its jars in ~/.m2. make bench builds it too when missing
# (and reports the run skipped, with Maven's error, when it cannot).
kstreams-build: install ## build the Kafka Streams passthrough of make bench (Maven; once, cached)
	@$(BIN)/python -m benchmarks.kstreams >/dev/null

bench-tuning: install ## client settings of the worker side by side (linger, compression, fetch, batch); QUICK=1
	$(BIN)/python -m benchmarks.tuning $(if $(QUICK),--quick --no-readme --output benchmarks/.work/tuning_results.json,)

FUZZ_SECONDS ?= 60
fuzz: install ## coverage-guided fuzzing, both engines, FUZZ_SECONDS each (atheris; libFuzzer via cargo)
	@$(BIN)/python -c 'import atheris' 2>/dev/null || $(BIN)/python -m pip install -q 'atheris==3.0.0'
	$(BIN)/python tests/fuzz/run.py --seconds $(FUZZ_SECONDS) $(if $(filter 0,$(NATIVE)),--engines python,)

clean: ## remove caches and local broker data (keeps the venv and the jars)
	rm -rf .kafka .pytest_cache .mypy_cache .ruff_cache .hypothesis .demo

.PHONY: help install lint fmt typecheck test-unit test-kafka test-deploy deploy-tools test kafka-up kafka-down demo bench bench-core bench-tuning kstreams-build fuzz clean lock image container-prereqs test-image test-kafka-containers hadolint

# ---------------------------------------------------------------- lock, image, containers
# deploy/image/ holds the scripts: podman's config (env.sh), the tools (tools.sh), the local
# base images (bases.sh), the build (build.sh) and podman's Docker API (docker-api.sh).
lock: $(UV) ## refresh uv.lock after a pyproject.toml change (then commit it)
	$(UV) lock

image: ## build the worker image with podman (installs podman, makes base images when missing)
	@bash deploy/image/build.sh

# make test runs the container tests when an engine can be had: the tools are installed
# when missing (root + apt), else the tests skip and say why; a failing build fails.
container-prereqs:
	@if bash deploy/image/tools.sh; then bash deploy/image/build.sh; \
	else echo "no container engine: the container tests will be skipped" >&2; fi

test-image: install container-prereqs ## the container tests: the image run for real with podman
	@bash .ci/pytest.sh -m container $(PYTEST_ARGS)

test-kafka-containers: install ## the broker tests on a Kafka container via testcontainers (podman's Docker API)
	@bash deploy/image/bases.sh kafka
	@CASHBACK_TEST_BROKER=testcontainers CASHBACK_TEST_KAFKA_IMAGE=$${CASHBACK_TEST_KAFKA_IMAGE:-localhost/cashback-test/kafka:4.4.0} \
		bash deploy/image/docker-api.sh bash .ci/pytest.sh -m "kafka and not container" $(PYTEST_ARGS)

hadolint: install ## lint the Dockerfile (errors fail; warnings are shown)
	$(BIN)/hadolint --failure-threshold error Dockerfile

.PHONY: lock image container-prereqs test-image test-kafka-containers hadolint
