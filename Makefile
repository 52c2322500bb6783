# Vigía — set-up, demo and tests. Everything a fresh machine needs is installed from here.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
DEMO_DIR ?= vigia-demo

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	-$(PIP) install --quiet -e '.[fuzz]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vigia demo --out $(DEMO_DIR)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(VENV)/bin/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(PY) bench/bench_telemetry.py --packets 1000000 --sortie-24h
	$(PY) bench/bench_demux.py --packets 1000000
	$(PY) bench/bench_footprints.py
	$(PY) bench/bench_coverage.py
	$(PY) bench/bench_plan.py --n 50 --seed 7

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
