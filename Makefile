# The two commands a new machine needs: `make run` (the demo) and `make test` (everything).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SRC := src/mentatlab
# Rust builds are cached outside the repository, shared by lint, the SDK tests and conformance.
CARGO_TARGET_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mentatlab/cargo-target

.PHONY: install run test lint format schemas openapi deploy clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/mentatctl run examples/hello.flow.yaml

lint: $(STAMP)
	$(BIN)/ruff check src tests agents tools conformance bench
	$(BIN)/ruff format --check src tests agents tools conformance bench
	$(BIN)/mypy
	$(BIN)/mypy --strict bench
	$(BIN)/lint-imports
	$(BIN)/bandit -r $(SRC) -lll -q
	git ls-files -z | xargs -0 $(BIN)/python tools/check_secrets.py
	cargo fmt --manifest-path sdks/rust/Cargo.toml --check
	cargo fmt --manifest-path conformance/agents/rust/Cargo.toml --check
	CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) cargo clippy --locked --quiet --manifest-path sdks/rust/Cargo.toml --all-targets --features client -- -D warnings
	CARGO_TARGET_DIR=$(CARGO_TARGET_DIR) cargo clippy --locked --quiet --manifest-path conformance/agents/rust/Cargo.toml --all-targets -- -D warnings

# The Kubernetes suite runs on the real local control plane (built once into a cache
# outside the repository, see docs/kubernetes.md) and the store suite also on a real
# PostgreSQL server (hack/postgres, docs/stores.md); both are started for the tests and stopped after.
test: lint
	hack/k8s/up.sh
	hack/postgres/up.sh
	eval "$$(hack/k8s/env.sh)"; eval "$$(hack/postgres/env.sh)"; status=0; $(BIN)/pytest || status=$$?; hack/postgres/down.sh; hack/k8s/down.sh; exit $$status

schemas: $(STAMP)
	$(BIN)/python tools/generate_run_schemas.py

openapi: $(STAMP)
	$(BIN)/python tools/generate_openapi.py

deploy: $(STAMP)
	$(BIN)/mentatctl k8s render --kustomize deploy

format: $(STAMP)
	$(BIN)/ruff check --fix src tests agents tools conformance bench
	$(BIN)/ruff format src tests agents tools conformance bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# --- Local Kubernetes control plane (hack/k8s, docs/kubernetes.md) ------------
# Real etcd + kube-apiserver + controller-manager + scheduler + kwok fake nodes,
# built from the Go module proxy; `make test` starts and stops it around the test suite.
.PHONY: k8s-up k8s-down k8s-env

k8s-up:
	hack/k8s/up.sh

k8s-down:
	hack/k8s/down.sh

k8s-env:
	@hack/k8s/env.sh

# --- Test PostgreSQL server (hack/postgres, docs/stores.md) -------------------
# Installs Debian's postgresql when no server is found, runs a throwaway cluster on a free
# loopback port; `make test` starts and stops it around the test suite.
.PHONY: pg-up pg-down pg-env

pg-up:
	hack/postgres/up.sh

pg-down:
	hack/postgres/down.sh

pg-env:
	@hack/postgres/env.sh

# --- Benchmarks (bench/, docs/benchmarks.md) ----------------------------------
# Figures, not pass/fail: results go to bench/results/ (not committed). The Kubernetes section
# needs the local control plane: it starts it after the other sections (and stops it if it was
# not running).
# `make bench BENCH_FLAGS=--baseline` makes the run the committed baseline the docs show.
.PHONY: bench bench-quick
BENCH_FLAGS ?=

bench: $(STAMP)
	$(BIN)/python -m bench --suite full --chart bench/results/benchmarks.png $(BENCH_FLAGS)

bench-quick: $(STAMP)
	$(BIN)/python -m bench --suite quick --chart bench/results/benchmarks.png $(BENCH_FLAGS)
