# The two commands a user needs: `make run` (the whole control plane, locally) and
# `make test` (every suite, as CI runs it).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DBAAS_HOME ?= $(CURDIR)/.dbaas

.PHONY: install run test lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: install
	$(BIN)/python -m services.devrun

test: install lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check services tests bench
	$(BIN)/ruff format --check services tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix services tests bench
	$(BIN)/ruff format services tests bench

clean:
	rm -rf $(VENV) .dbaas .pytest_cache .mypy_cache .ruff_cache
