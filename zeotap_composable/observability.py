"""The operations surface: request ids and test-run ids in every log record, Prometheus metrics, /healthz,
/readyz and /metrics. The connection-test metrics and the test-run log context are the app's
(destinations.metrics); this module serves them.

Metrics use prometheus-client. With PROMETHEUS_MULTIPROC_DIR set (several web or worker processes), every
process writes its samples there and /metrics aggregates them, so the workers' test runs show.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
import os
import re
import time
import uuid

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

from destinations.metrics import BacklogCollector, test_run_id_var

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A client's request id is kept when it is short and plain (it goes into logs and a response header).
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

HTTP_REQUESTS = Counter("http_requests", "HTTP requests answered.", ["method", "route", "status"])
HTTP_LATENCY = Histogram("http_request_duration_seconds", "Time to the response headers.", ["method", "route"])


# --- log context ---------------------------------------------------------------------------------


class LogContextFilter(logging.Filter):
    """Puts the current request id and test-run id on every record (both formats can show them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs a request's 4xx/5xx after the middleware returned, with the request attached.
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or request_id_var.get()
        record.test_run_id = test_run_id_var.get()
        return True


# Query parameters whose values are credentials: the OAuth callback's `code` and `state`, and tokens or keys a
# client might put in a URL by mistake.
_CREDENTIAL_QUERY_VALUE = re.compile(
    r"(?i)([?&](?:code|state|token|stream_token|access_token|refresh_token|id_token|client_secret|secret|password|"
    r"api_key|apikey|key|signature|sig)=)[^&\s\"]*"
)


class AccessLogRedactor(logging.Filter):
    """Masks credential-like query values in access-log records (uvicorn logs each request's path with its
    query string, and the OAuth callback's carries the authorization code). Installed by asgi.py."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _CREDENTIAL_QUERY_VALUE.sub(r"\1********", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


# --- middleware ----------------------------------------------------------------------------------


def _request_id(request) -> str:
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    return sent if _CLIENT_REQUEST_ID.match(sent) else uuid.uuid4().hex


def _observe_request(request, response, started: float) -> None:
    match = getattr(request, "resolver_match", None)
    route = match.route if match is not None and match.route else "unmatched"
    HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)


@sync_and_async_middleware
def observability_middleware(get_response):
    """X-Request-ID honoured (or made) and echoed, set for the request's log records; requests counted."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            started, request_id = time.perf_counter(), _request_id(request)
            request.request_id = request_id
            token = request_id_var.set(request_id)
            try:
                response = await get_response(request)
            finally:
                request_id_var.reset(token)
            response[REQUEST_ID_HEADER] = request_id
            _observe_request(request, response, started)
            return response

    else:

        def middleware(request):
            started, request_id = time.perf_counter(), _request_id(request)
            request.request_id = request_id
            token = request_id_var.set(request_id)
            try:
                response = get_response(request)
            finally:
                request_id_var.reset(token)
            response[REQUEST_ID_HEADER] = request_id
            _observe_request(request, response, started)
            return response

    return middleware


# --- health and readiness ------------------------------------------------------------------------


@require_GET
def healthz(request):
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


def _check_broker() -> None:
    from zeotap_composable.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)


@require_GET
def readyz(request):
    """Readiness: the database, and Redis and the broker when configured. Names checks, never hosts."""
    checks = {"database": _check_database}
    if settings.REDIS_URL:
        checks.update(redis=_check_redis, broker=_check_broker)
    results = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means not ready; the detail (hosts, addresses) stays in the log
            logger.warning("readiness check %s failed (%s)", name, type(exc).__name__)
            results[name] = "unavailable"
    ready = all(value == "ok" for value in results.values())
    response = JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": results}, status=200 if ready else 503
    )
    if not ready:
        response["Retry-After"] = "5"
    return response


# --- metrics -------------------------------------------------------------------------------------


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_DefaultMetrics())
    registry.register(BacklogCollector())
    return registry


class _DefaultMetrics:
    """This process's metrics (the default registry), composed into the scrape's registry."""

    def collect(self):
        yield from REGISTRY.collect()


@require_GET
def metrics(request):
    """Prometheus exposition, for a bearer of METRICS_TOKEN only; absent (404) while no token is set."""
    token = settings.METRICS_TOKEN
    if not token:
        return JsonResponse({"detail": "Not found."}, status=404)
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        response = JsonResponse({"detail": "A valid bearer token is required."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
