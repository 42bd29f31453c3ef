# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEV_ENV := DJANGO_DEBUG=true
REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install run run-distributed test lint bench manage

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## Migrate, create a demo workspace and token the first time, and serve (ASGI, so SSE streams live).
run: install
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) $(BIN)/python manage.py demo_workspace --port $(PORT)
	$(DEV_ENV) $(BIN)/uvicorn zeotap_composable.asgi:application --no-proxy-headers --host 127.0.0.1 --port $(PORT)

## The distributed runtime: two web processes (PORT, PORT+1), a Celery worker and celery beat on REDIS_URL,
## in the foreground; Ctrl-C (or any one of them exiting) stops them all.
run-distributed: SHELL := /bin/bash
run-distributed: install
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) $(BIN)/python manage.py demo_workspace --port $(PORT)
	@$(BIN)/python -c "import redis; redis.Redis.from_url('$(REDIS_URL)', socket_connect_timeout=2).ping()" 2>/dev/null \
	  || { echo "Redis does not answer at $(REDIS_URL). Start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"; exit 1; }
	export $(DEV_ENV) REDIS_URL=$(REDIS_URL); trap 'kill $$(jobs -p) 2>/dev/null' INT TERM EXIT; \
	$(BIN)/uvicorn zeotap_composable.asgi:application --no-proxy-headers --host 127.0.0.1 --port $(PORT) & \
	$(BIN)/uvicorn zeotap_composable.asgi:application --no-proxy-headers --host 127.0.0.1 --port $$(($(PORT) + 1)) & \
	$(BIN)/celery -A zeotap_composable worker -l info & \
	$(BIN)/celery -A zeotap_composable beat -l info -s .local/celerybeat-schedule & \
	wait -n

## Any management command in development, e.g. make manage ARGS="test_destinations --all".
manage: install
	@$(DEV_ENV) $(BIN)/python manage.py $(ARGS)

## The whole suite (SQLite unless DATABASE_URL is set).
test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/api_bench.py
	$(BIN)/python bench/sse_bench.py
	$(BIN)/python bench/scale_bench.py
	$(BIN)/python bench/bulk_bench.py
	$(BIN)/python bench/fleet_bench.py $(FLEET_ARGS)
