# `make demo` and `make test` do all the set-up on a fresh machine with Python 3.10+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DB := demo/metrics.db

.PHONY: demo test test-duckdb1 bench clean venv chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	rm -rf demo && mkdir -p demo
	cp -r examples/migrations demo/migrations
	cd demo && ../$(BIN)/duckmig --database metrics.db --dir migrations preview --sample 3
	cd demo && ../$(BIN)/duckmig --database metrics.db --dir migrations up
	cd demo && ../$(BIN)/duckmig --database metrics.db --dir migrations status
	cd demo && ../$(BIN)/duckmig --database metrics.db --dir migrations down
	cd demo && ../$(BIN)/duckmig --database metrics.db --dir migrations status

# The browser test drives Debian's chromium; install it where we may (root with apt-get), else it skips.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	  || echo "chromium could not be installed: the browser test will be skipped"; fi

test: $(VENV)/.installed-test chromium
	$(BIN)/python -m pytest

# The engine also supports the last duckdb 1.x; this runs the engine's tests against it (opt-in).
DUCKDB1_VENV ?= .venv-duckdb1

$(DUCKDB1_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DUCKDB1_VENV)
	$(DUCKDB1_VENV)/bin/pip install --quiet -e '.[test]' 'duckdb<2'
	touch $@

test-duckdb1: $(DUCKDB1_VENV)/.installed
	$(DUCKDB1_VENV)/bin/python -m pytest tests/test_sqlfile.py tests/test_versions.py tests/test_pyform.py \
	  tests/test_seed.py tests/test_migrator.py tests/test_cli.py tests/test_preview.py

# duckup requires duckdb below 2, so the peers get an environment of their own: the
# benchmark runs once in each, every figure a ratio to that environment's plain script.
BENCH_VENV ?= .venv-bench

$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -e '.[bench]'
	touch $@

bench: $(VENV)/.installed $(BENCH_VENV)/.installed
	$(BIN)/python benchmarks/run.py --python $(BIN)/python --python $(BENCH_VENV)/bin/python

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(DUCKDB1_VENV) demo .pytest_cache
