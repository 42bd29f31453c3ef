# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DOCS_PORT ?= 8008
DEV_ENV := DJANGO_DEBUG=true
REDIS_URL ?= redis://127.0.0.1:6379/0
METRICS_DIR := .local/prometheus

.PHONY: install install-dev run run-distributed test lint docs bench manage

## The runtime only (`pip install -e .`, editable for development): what `make run` serves with, no test tools.
$(BIN)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

## The test tools, the docs site and honcho on top (`.[dev]`, editable): make test, lint, docs, the emulators.
$(BIN)/.dev: $(BIN)/.runtime
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## `.[procfile]`: honcho, for make run-distributed.
$(BIN)/.procfile: $(BIN)/.runtime
	$(BIN)/pip install --quiet -e '.[procfile]'
	touch $@

install: $(BIN)/.runtime
install-dev: $(BIN)/.dev

## Migrate, create a demo workspace and token the first time, and serve (ASGI, so SSE streams live).
run: install
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) $(BIN)/python manage.py demo_workspace --port $(PORT)
	$(DEV_ENV) $(BIN)/uvicorn zeotap_composable.asgi:application --no-proxy-headers --host 127.0.0.1 --port $(PORT)

## The distributed runtime from the Procfile, through honcho: two web processes (PORT, PORT+1), a Celery
## worker and celery beat on REDIS_URL, in the foreground; Ctrl-C (or any one of them exiting) stops them all.
## PROMETHEUS_MULTIPROC_DIR is shared and emptied first, so /metrics on either web process counts the worker's tests.
run-distributed: $(BIN)/.procfile
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) $(BIN)/python manage.py demo_workspace --port $(PORT)
	@$(BIN)/python -c "import redis; redis.Redis.from_url('$(REDIS_URL)', socket_connect_timeout=2).ping()" 2>/dev/null \
	  || { echo "Redis does not answer at $(REDIS_URL). Start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"; exit 1; }
	rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	PATH="$(abspath $(BIN)):$$PATH" $(DEV_ENV) REDIS_URL=$(REDIS_URL) PROMETHEUS_MULTIPROC_DIR=$(abspath $(METRICS_DIR)) \
	  $(BIN)/honcho start -f Procfile -p $(PORT) -c web=2,worker=1,beat=1

## Any management command in development, e.g. make manage ARGS="test_destinations --all".
manage: install
	@$(DEV_ENV) $(BIN)/python manage.py $(ARGS)

## The whole suite (SQLite unless DATABASE_URL is set).
test: install-dev
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

## The documentation site at http://127.0.0.1:$(DOCS_PORT), rebuilt as the pages change.
docs: install-dev
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

bench: install-dev
	$(BIN)/python bench/api_bench.py
	$(BIN)/python bench/sse_bench.py
	$(BIN)/python bench/scale_bench.py
	$(BIN)/python bench/bulk_bench.py
	$(BIN)/python bench/fleet_bench.py $(FLEET_ARGS)
