# One entry point for every check, locally and in CI.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# Test processes (pytest-xdist): one per core, at most 4; 0 (on one core) runs the
# tests in pytest's own process. `make pytest PYTEST_WORKERS=0` does so anywhere.
# worksteal: a process that runs out of tests takes some of the other's queue (the
# longest tests, the browser axe walk and the 10,000-row import, come late in collection).
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n > 4 ? 4 : (n < 2 ? 0 : n) )))

.PHONY: install demo test lint typecheck pytest bench lock clean

# outreach needs Python 3.11 or later: an older one is refused with a line that says
# so, not pip's "no matching distribution", and a venv made with one is not reused.
PYCHECK := import sys; sys.exit(sys.version_info < (3, 11))

$(BIN)/.main: requirements/main.lock pyproject.toml
	@if test -x $(PY); then \
	  $(PY) -c '$(PYCHECK)' || { echo "$(VENV) was made with $$($(PY) --version 2>&1); outreach needs Python 3.11 or later: rm -rf $(VENV), then make again (with PYTHON=python3.11 or newer if python3 is older)" >&2; exit 1; }; \
	else \
	  $(PYTHON) -c '$(PYCHECK)' || { echo "$(PYTHON) is $$($(PYTHON) --version 2>&1); outreach needs Python 3.11 or later: make PYTHON=python3.11 (or newer)" >&2; exit 1; }; \
	  echo "$(PYTHON) -m venv $(VENV)"; $(PYTHON) -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements/main.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(BIN)/.dev: $(BIN)/.main requirements/dev.lock
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.lock
	touch $@

# The virtual environment alone, without the demo's data (a real installation).
install: $(BIN)/.main

demo: $(BIN)/.main
	$(BIN)/outreach demo
	@echo "Run more commands with $(BIN)/outreach (e.g. $(BIN)/outreach status), or 'source $(BIN)/activate' first."

test: $(BIN)/.dev lint typecheck pytest

lint: $(BIN)/.dev
	$(BIN)/ruff check outreach tests bench alembic
	$(BIN)/ruff format --check outreach tests bench

typecheck: $(BIN)/.dev
	$(BIN)/mypy

pytest: $(BIN)/.dev
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

bench: $(BIN)/.dev
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

# Re-pin the lock files after changing dependencies in pyproject.toml.
lock:
	$(PY) -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --no-header -o requirements/main.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes --no-header -o requirements/dev.lock

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
