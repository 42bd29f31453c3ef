"""The operations surface: /healthz, /readyz, /metrics (protected, multiprocess), JSON logs with request and
test-run ids, and the cached OpenAPI schema."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.test import Client

from destinations.jobs.pool import run_destination_test
from tests.hooks import hook
from zeotap_composable.observability import LogContextFilter

ROOT = Path(__file__).resolve().parents[2]
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def anonymous():
    return Client()


# --- health --------------------------------------------------------------------------------------


def test_healthz_is_public_json(anonymous):
    response = anonymous.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_the_database(anonymous, settings):
    settings.REDIS_URL = ""
    response = anonymous.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


@pytest.mark.django_db
def test_readyz_checks_redis_and_the_broker_when_configured(anonymous, settings):
    settings.REDIS_URL = REDIS_TEST_URL
    response = anonymous.get("/readyz")
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_down_and_names_no_host(anonymous, settings):
    port = closed_port()
    settings.REDIS_URL = f"redis://:hunter2@127.0.0.1:{port}/0"
    from zeotap_composable.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = settings.REDIS_URL
    try:
        started = time.monotonic()
        response = anonymous.get("/readyz")
        assert time.monotonic() - started < 10  # answers, does not hang
    finally:
        app.conf.broker_url = previous
    assert response.status_code == 503 and response["Retry-After"]
    body = response.json()
    assert body == {
        "status": "not ready",
        "checks": {"database": "ok", "redis": "unavailable", "broker": "unavailable"},
    }
    text = response.content.decode()
    assert "127.0.0.1" not in text and str(port) not in text and "hunter2" not in text


# --- metrics -------------------------------------------------------------------------------------


def test_metrics_are_off_without_a_token(anonymous, settings):
    settings.METRICS_TOKEN = ""
    assert anonymous.get("/metrics").status_code == 404


@pytest.mark.django_db
def test_metrics_need_the_bearer_token(anonymous, settings):
    settings.METRICS_TOKEN = "metrics-secret"
    assert anonymous.get("/metrics").status_code == 401
    assert anonymous.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    response = anonymous.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert "metrics-secret" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_metrics_count_requests_runs_and_step_latency(anonymous, settings, receiver):
    settings.METRICS_TOKEN = "t"
    anonymous.get("/healthz")
    run_destination_test(hook(receiver))
    run_destination_test(hook(receiver, key="wrong"))
    text = anonymous.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    assert 'http_requests_total{method="GET",route="healthz",status="200"}' in text
    assert 'connection_test_runs_total{destination_type="webhook",result="passed",trigger="cli"}' in text
    assert 'connection_test_runs_total{destination_type="webhook",result="failed",trigger="cli"}' in text
    assert 'connection_test_step_duration_seconds_bucket{destination_type="webhook"' in text
    assert "connection_test_queue_depth 0.0" in text
    assert "connection_test_runs_interrupted_total" in text
    assert "notifications_pending" in text


@pytest.mark.django_db(transaction=True)
def test_multiprocess_metrics_include_other_processes(tmp_path, live_server_env):
    """With PROMETHEUS_MULTIPROC_DIR a run counted by one process (a worker) shows in another's /metrics."""
    env = {
        **live_server_env,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "METRICS_TOKEN": "t",
        "EMBEDDED_SCHEDULER": "0",
    }
    worker = (
        "import django; django.setup();"
        "from destinations.metrics import TEST_RUNS; TEST_RUNS.labels('braze','passed','schedule').inc(3)"
    )
    subprocess.run([sys.executable, "-c", worker], cwd=ROOT, env=env, check=True, timeout=60)
    port = closed_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "zeotap_composable.asgi:application", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer t"})
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert response.status_code == 200
    assert (
        'connection_test_runs_total{destination_type="braze",result="passed",trigger="schedule"} 3.0' in response.text
    )


@pytest.fixture
def live_server_env(django_db_setup):
    """Environment for a subprocess on the test database (SQLite file or PostgreSQL)."""
    from django.db import connection

    env = {**os.environ, "DJANGO_DEBUG": "true", "DJANGO_TESTING": "false"}
    settings_dict = connection.settings_dict
    if settings_dict["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{settings_dict['NAME']}"
    else:
        user, host, port = settings_dict["USER"], settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
        password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
        env["DATABASE_URL"] = f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


# --- logs ----------------------------------------------------------------------------------------


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(LogContextFilter())

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def records():
    handler = Records()
    logging.getLogger().addHandler(handler)
    yield handler.records
    logging.getLogger().removeHandler(handler)


@pytest.mark.django_db
def test_request_id_is_honoured_echoed_and_logged(api, records):
    response = api.get(api.path("destinations/" + "0" * 8), HTTP_X_REQUEST_ID="req-42")
    assert response["X-Request-ID"] == "req-42"
    assert any(r.request_id == "req-42" for r in records if r.name == "django.request")
    made = api.get(api.path("destinations"))["X-Request-ID"]
    assert len(made) == 32
    assert api.get(api.path("destinations"), HTTP_X_REQUEST_ID="bad id\n")["X-Request-ID"] != "bad id\n"


@pytest.mark.django_db(transaction=True)
def test_a_test_runs_log_records_carry_its_id(receiver, records, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []  # the guard refuses loopback and logs it, inside the run
    result = run_destination_test(hook(receiver))
    [refusal] = [r for r in records if "refused" in r.getMessage()]
    assert refusal.test_run_id == str(result.test_run_id)
    logging.getLogger("destinations").warning("after the run")
    assert records[-1].test_run_id is None  # the id is the run's only while it runs


def test_json_log_format_emits_one_object_per_line_with_the_ids():
    code = (
        "import logging, django; django.setup();"
        "from zeotap_composable.observability import request_id_var; from destinations.metrics import test_run_logging;"
        "request_id_var.set('r-1');"
        "ctx = test_run_logging('run-9'); ctx.__enter__();"
        "logging.getLogger('destinations').warning('hello %s', 'there')"
    )
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_DEBUG": "true", "DJANGO_TESTING": "false"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("{")]
    record = json.loads(line)
    assert record["message"] == "hello there" and record["level"] == "WARNING" and record["logger"] == "destinations"
    assert record["request_id"] == "r-1" and record["test_run_id"] == "run-9"


# --- the schema ----------------------------------------------------------------------------------


def test_the_schema_is_generated_once_and_unchanged(anonymous):
    from destinations.api.openapi import CachedSpectacularAPIView

    CachedSpectacularAPIView._cache.clear()
    started = time.process_time()
    first = anonymous.get("/api/schema/")
    cold = time.process_time() - started
    started = time.process_time()
    for _ in range(5):
        again = anonymous.get("/api/schema/")
    warm = (time.process_time() - started) / 5
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Content-Disposition"] == first["Content-Disposition"]
    assert warm < cold / 5
    as_json = anonymous.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert as_json["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert (
        "test_jobs_create"
        in as_json.json()["paths"]["/api/v1/workspaces/{workspace_id}/destinations/test-jobs"]["post"]["operationId"]
    )
    events = as_json.json()["paths"]["/api/v1/workspaces/{workspace_id}/destinations/test-jobs/{job_id}/events"]
    stream = events["get"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    # each event a job event, not a test-run event (or, for generated clients, the whole stream as text)
    assert stream["anyOf"][0] == {"$ref": "#/components/schemas/TestJobStreamEvent"}
    assert {"TestJob", "TestJobResult", "TestJobResultEvent"} <= set(as_json.json()["components"]["schemas"])


@pytest.mark.django_db(transaction=True)
def test_the_tick_reaps_interrupted_runs_and_counts_them(anonymous, settings):
    from datetime import timedelta

    from django.utils import timezone
    from prometheus_client import REGISTRY

    from destinations.models import TestRun
    from destinations.schedule.tick import scheduler_tick
    from tests.factories import DestinationFactory

    settings.METRICS_TOKEN = "t"
    destination = DestinationFactory()
    run = TestRun.objects.create(workspace=destination.workspace, destination=destination, destination_type="webhook")
    TestRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    before = REGISTRY.get_sample_value("connection_test_runs_interrupted_total") or 0
    assert scheduler_tick().reaped == 1
    run.refresh_from_db()
    assert run.finished_at is not None and run.success is False
    assert REGISTRY.get_sample_value("connection_test_runs_interrupted_total") == before + 1
    text = anonymous.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    assert f"connection_test_runs_interrupted_total {before + 1}" in text
