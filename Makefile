# Triage Hub: `make run` for the demo, `make test` for the whole suite (CI runs it too).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/triage_hub
REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run worker test test-sqlite test-postgres lint services browser-deps demo bench clean lock audit

$(BIN)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# Debian's chromium for the Playwright tests (Playwright's own browser download cannot
# work offline). Installed automatically in CI; elsewhere the browser tests skip.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$CI" = "true" ] || [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; \
	  else echo "chromium missing: browser tests will skip (sudo apt-get install chromium)"; fi; \
	fi

# In CI the suite must run against the real services: start them if they have stopped.
services:
	@if [ "$$CI" = "true" ]; then \
	  pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; \
	  redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no; \
	  for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi

# The demo: embedded SQLite and the kombu filesystem:// broker, no servers needed.
run: install
	HUB_DEMO=true HUB_REQUIRE_2FA=$${HUB_REQUIRE_2FA:-false} $(BIN)/python manage.py migrate --noinput
	HUB_DEMO=true HUB_REQUIRE_2FA=$${HUB_REQUIRE_2FA:-false} $(BIN)/python manage.py demo
	HUB_DEMO=true HUB_REQUIRE_2FA=$${HUB_REQUIRE_2FA:-false} ./bin/serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	HUB_DATA_DIR=$$(mktemp -d) SECRET_KEY=$$(head -c 48 /dev/urandom | base64) HUB_HTTPS=true \
	  ALLOWED_HOSTS=hub.example.org DATABASE_URL=$(PG_URL) \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING

test-sqlite: install
	HUB_DATA_DIR=$(CURDIR)/var/test-sqlite $(BIN)/pytest -m "not services" $(PYTEST_ARGS)

test-postgres: install
	@if [ "$$CI" != "true" ] && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
	  echo "SKIPPED the PostgreSQL run: no server at 127.0.0.1:5432 (CI=true makes this an error)"; exit 0; fi; \
	HUB_DATA_DIR=$(CURDIR)/var/test-pg DATABASE_URL=$(PG_URL) TEST_REDIS_URL=$(REDIS_URL) HUB_DB_APP_ROLE=hub_app \
	  $(BIN)/pytest -m "not db_independent" --database-tests-only $(PYTEST_ARGS)

test: install browser-deps services lint test-sqlite test-postgres

# The exact versions every install uses (pip constraints). After changing pyproject.toml:
# `make lock`, review the diff, commit it.
lock:
	$(BIN)/pip freeze --exclude-editable | sort -f > requirements.lock

# Known vulnerabilities in the locked versions. Needs a vulnerability database (PyPI's
# JSON API or OSV); the development and CI machines here cannot reach one, see README.
audit: install
	$(BIN)/pip-audit --strict --requirement requirements.lock --no-deps --disable-pip

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf var/test-sqlite var/test-pg tests/artifacts
