# `make demo` and `make test` do all the set-up on a fresh machine with Python 3.10+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DB := demo/metrics.db

.PHONY: demo test lint test-oldest bench docs clean venv chromium postgresql

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# The docs extra too, where it installs: the test that builds the site skips, saying why, where it cannot.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet -e '.[test,docs]' \
	  || echo "the docs extra could not be installed: the test that builds the site will be skipped"
	touch $@ $(VENV)/.installed

# The documentation site, into site/: MkDocs with Material, the tutorials run into it with their outputs,
# the reference written from the code (docs_hooks/). Strict: a broken link or a missing page fails it.
$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[docs]'
	touch $@ $(VENV)/.installed

docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

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

# The DuckLake tests and benchmark start Debian's PostgreSQL server themselves (tests/lake_parts.py);
# install it where we may, else they skip.
postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1 \
	  || echo "postgresql could not be installed: the DuckLake tests and benchmark on PostgreSQL will be skipped"; fi

# DuckDB's extensions cannot be downloaded here, but the ducklake, postgres and httpfs ones are on PyPI,
# built for one duckdb release each: the DuckLake tests run in an environment with that release.
# The release is pinned after the project is installed; the whole suite passes on it too, which is
# why pyproject.toml allows duckdb>=1.5.5.
LAKE_VENV ?= .venv-lake
LAKE_DUCKDB := 1.5.5

$(LAKE_VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(LAKE_VENV)
	$(LAKE_VENV)/bin/pip install --quiet --no-warn-conflicts -e '.[test]'
	$(LAKE_VENV)/bin/pip install --quiet --no-warn-conflicts 'duckdb==$(LAKE_DUCKDB)' \
	  'duckdb-extension-ducklake==$(LAKE_DUCKDB)' 'duckdb-extension-postgres-scanner==$(LAKE_DUCKDB)'
	@# httpfs reaches the S3-compatible bucket that moto serves on localhost (tests/lake_parts.py starts
	@# and stops it): where either cannot be installed, the S3 lake tests skip and say why.
	$(LAKE_VENV)/bin/pip install --quiet --no-warn-conflicts 'duckdb-extension-httpfs==$(LAKE_DUCKDB)' \
	  'moto[server]>=5.0' || echo "httpfs or moto could not be installed: the DuckLake tests on S3 will be skipped"
	touch $@

# ruff (pyflakes, isort, bugbear, pyupgrade) and mypy over the package, as configured in pyproject.toml.
lint: $(VENV)/.installed-test
	$(BIN)/ruff check duckmig_magic
	$(BIN)/mypy

test: lint $(VENV)/.installed-test $(LAKE_VENV)/.installed chromium postgresql
	$(BIN)/python -m pytest
	$(LAKE_VENV)/bin/python -m pytest -m "ducklake or duckdb15 or versions"

# The lowest versions pyproject.toml allows, so its lower bounds stay true (opt-in).
OLDEST_VENV ?= .venv-oldest

$(OLDEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/pip install --quiet -e '.[test]' 'duckdb==1.5.5' 'ipython==8.12.*' 'pandas==2.0.*' \
	  'numpy<2' 'ipywidgets==8.0.*' 'nbformat==5.7.*'
	touch $@

test-oldest: $(OLDEST_VENV)/.installed
	$(OLDEST_VENV)/bin/python -m pytest --ignore=tests/test_browser.py

# duckup requires duckdb below 2, so the peers get an environment of their own: the
# benchmark runs once in each, every figure a ratio to that environment's plain script.
# The DuckLake workload runs in the lake environment, on a PostgreSQL server it starts.
BENCH_VENV ?= .venv-bench

$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -e '.[bench]'
	touch $@

bench: $(VENV)/.installed $(BENCH_VENV)/.installed $(LAKE_VENV)/.installed postgresql
	$(BIN)/python benchmarks/run.py --python $(BIN)/python --python $(BENCH_VENV)/bin/python \
	  --lake-python $(LAKE_VENV)/bin/python --also keep --also lint --also schemadiff

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(OLDEST_VENV) $(LAKE_VENV) demo site .pytest_cache
