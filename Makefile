# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEV_ENV := DJANGO_DEBUG=true

.PHONY: install run test lint bench manage

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
	$(DEV_ENV) $(BIN)/uvicorn zeotap_composable.asgi:application --host 127.0.0.1 --port $(PORT)

## Any management command in development, e.g. make manage ARGS="test_destinations --all".
manage: install
	@$(DEV_ENV) $(BIN)/python manage.py $(ARGS)

## The whole suite (SQLite unless DATABASE_URL is set).
test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/api_bench.py
	$(BIN)/python bench/sse_bench.py
	$(BIN)/python bench/bulk_bench.py
