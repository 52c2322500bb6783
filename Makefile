# Vigía — set-up, demo and tests. Everything a fresh machine needs is installed from here.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
DEMO_DIR ?= vigia-demo

# PostgreSQL + PostGIS for the store and API tests (Debian packages). The tests start their own
# throw-away cluster on 127.0.0.1 (tests/helpers/pgcluster.py) and stop it when they end.
PG_VERSION  ?= 15
PG_PACKAGES := postgresql postgresql-$(PG_VERSION)-postgis-3
PG_DIR      ?= /tmp/vigia-pg-dev

.PHONY: demo screenshots test lint typecheck pytest bench clean pg-deps pg-start pg-stop

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

pytest: $(STAMP) pg-deps web
	VIGIA_REQUIRE_PG=1 VIGIA_REQUIRE_BROWSER=1 $(VENV)/bin/pytest

# Installs the PostgreSQL packages when one is missing (apt-get, as root or through sudo);
# does nothing when they are there.
pg-deps:
	@command -v dpkg-query >/dev/null || { echo "pg-deps: not Debian; install PostgreSQL $(PG_VERSION) + PostGIS 3 yourself"; exit 0; }; \
	missing=""; for p in $(PG_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  echo "pg-deps: installing$$missing"; \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# A PostgreSQL + PostGIS cluster to try things by hand (e.g. VIGIA_DATABASE_URL for serve/bench):
# `make pg-start` prints its URL (also in $(PG_DIR)/url); `make pg-stop` stops and deletes it.
pg-start: $(STAMP) pg-deps
	$(PY) -m tests.helpers.pgcluster start $(PG_DIR)

pg-stop: $(STAMP)
	$(PY) -m tests.helpers.pgcluster stop $(PG_DIR)

test: lint typecheck pytest

bench: $(STAMP)
	$(PY) bench/bench_telemetry.py --packets 1000000 --sortie-24h
	$(PY) bench/bench_demux.py --packets 1000000
	$(PY) bench/bench_footprints.py
	$(PY) bench/bench_coverage.py
	$(PY) bench/bench_plan.py --n 50 --seed 7
	$(PY) bench/bench_fusion.py --observations 1000000 --sites 5000

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache

# Web UI: the vendored assets (built from npm only when absent; `make web-rebuild` rebuilds them)
# and Debian's Chromium, which the Playwright test drives (Playwright's browser downloads are
# never used).
.PHONY: web web-rebuild chromium
# Retakes the README's screenshots of the web UI (docs/screenshot_*.png).
screenshots: $(STAMP) pg-deps web
	VIGIA_UPDATE_SCREENSHOTS=1 VIGIA_REQUIRE_BROWSER=1 $(VENV)/bin/pytest tests/test_web_ui.py

web: chromium
	scripts/build_web.sh --if-missing

web-rebuild:
	scripts/build_web.sh

chromium:
	test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
