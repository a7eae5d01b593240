# `make demo` and `make test` do all the set-up on a fresh machine with Python 3.10+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DB := demo/metrics.db

.PHONY: demo test bench clean venv

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
	cd demo && ../$(BIN)/duckmig --database metrics.db --dir migrations up
	cd demo && ../$(BIN)/duckmig --database metrics.db --dir migrations status
	cd demo && ../$(BIN)/duckmig --database metrics.db --dir migrations down
	cd demo && ../$(BIN)/duckmig --database metrics.db --dir migrations status

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) demo .pytest_cache
