# The two commands a new machine needs: `make run` (the demo) and `make test` (everything).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SRC := src/mentatlab

.PHONY: install run test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/mentatctl run examples/hello.flow.yaml

lint: $(STAMP)
	$(BIN)/ruff check src tests agents
	$(BIN)/ruff format --check src tests agents
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff check --fix src tests agents
	$(BIN)/ruff format src tests agents

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
