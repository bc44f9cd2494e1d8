# `make dev` starts the whole product; `make test` runs every check; `make bench` measures.
# Each creates .venv and installs what is missing first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install lock dev test lint bench clean system-packages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Exactly the locked set (requirements.lock, with hashes), then the project itself, editable and
# built by the locked setuptools; whatever the lock no longer names is removed.
$(INSTALLED): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python tools/lockfile.py prune
	touch $(INSTALLED)

install: $(INSTALLED)

# Resolves pyproject.toml anew into requirements.lock; commit both together.
lock: install
	$(BIN)/python tools/lockfile.py update

dev: install
	$(BIN)/python worker.py dev

lint: install
	$(BIN)/python tools/lockfile.py check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports --no-logo

# Tests run in parallel (pytest-xdist): most of them wait on servers, timers and browsers, so
# four workers keep two cores busy; worksteal balances the few long tests.
TEST_WORKERS ?= 4

# Chromium, zbar and poppler from Debian, when missing (tools/system_packages.sh).
system-packages:
	bash tools/system_packages.sh

test: lint system-packages
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
