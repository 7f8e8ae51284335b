# otel-llm: the two commands a user needs are `make demo` and `make test`.
# Everything is installed into .venv from pinned versions (constraints.txt), idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install peers test test-wrapt1 lint fmt bench demo clean

$(STAMP): pyproject.toml processor/pyproject.toml constraints.txt processor/src/spanscan.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt pip setuptools wheel
	$(PIP) install -c constraints.txt --no-build-isolation \
		-e '.[test,peers,tokens]' -e './processor[test,postgres]'
	touch $(STAMP)

install: $(STAMP)

# Real peers the integration tests talk to (Prometheus, Alertmanager, PostgreSQL, Chromium) and,
# where Go is installed, an OpenTelemetry Collector built with the official builder (cached).
peers:
	bash scripts/install-peers.sh
	bash scripts/build-collector.sh >/dev/null

test: install peers lint
	$(PY) -m pytest -n 2 --dist loadfile -q -p no:cacheprovider $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-wrapt1

# The instrumentation must work with wrapt 1.x as well as 2.x: run its tests in a second venv.
test-wrapt1:
	bash scripts/test-wrapt1.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/run_all.py

demo: install
	$(PY) -m otel_llm_processor.demo

clean:
	rm -rf $(VENV) .venv-wrapt1 .pytest_cache .mypy_cache .ruff_cache
