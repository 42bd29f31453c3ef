"""What the service measures of its connection tests: counters and histograms, the test-run log context, and
the backlog gauges read at scrape time.

Loaded during logging setup (the log filter reads `test_run_id_var`), before the app registry: nothing here
imports models at module level.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools

import redis
from django.conf import settings
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

test_run_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("test_run_id", default=None)

TEST_RUNS = Counter("connection_test_runs", "Connection tests finished.", ["destination_type", "result", "trigger"])
STEP_LATENCY = Histogram(
    "connection_test_step_duration_seconds",
    "Duration of each connection-test step.",
    ["destination_type", "step", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
RUNS_INTERRUPTED = Counter("connection_test_runs_interrupted", "Runs ended as interrupted by the reaper.")
EVENTS_UNRELAYED = Counter("sse_events_unrelayed", "Events stored but not relayed, because Redis was unreachable.")
RELAY_RECONNECTIONS = Counter("sse_relay_reconnections", "Times a web process's Redis relay reconnected.")


@contextlib.contextmanager
def test_run_logging(test_run_id) -> object:
    token = test_run_id_var.set(str(test_run_id))
    try:
        yield
    finally:
        test_run_id_var.reset(token)


def bind_test_run(execute):
    """Decorates connection_test_execute(prepared, ...): its log records carry the run's id."""

    @functools.wraps(execute)
    def wrapper(prepared, *args, **kwargs):
        with test_run_logging(prepared.test_run.pk):
            return execute(prepared, *args, **kwargs)

    return wrapper


def observe_test_run(test_run) -> None:
    """Count a finished run and its steps' latencies."""
    result = "passed" if test_run.success else "failed"
    TEST_RUNS.labels(test_run.destination_type, result, test_run.trigger).inc()
    for step in test_run.steps:
        if step.get("duration_ms") is not None:
            STEP_LATENCY.labels(test_run.destination_type, step.get("name", "?"), step.get("status", "?")).observe(
                step["duration_ms"] / 1000
            )


class BacklogCollector:
    """Gauges read when scraped: runs recorded but not finished, pending notifications, the broker's queue."""

    def collect(self):
        from .models import Notification, NotificationState, TestRun  # Django load order: module docstring

        unfinished = GaugeMetricFamily(
            "connection_test_queue_depth", "Connection tests recorded and not finished (queued or running)."
        )
        unfinished.add_metric([], TestRun.objects.filter(finished_at__isnull=True).count())
        yield unfinished
        pending = GaugeMetricFamily("notifications_pending", "Notifications waiting for a delivery attempt.")
        pending.add_metric([], Notification.objects.filter(state=NotificationState.PENDING).count())
        yield pending
        if settings.REDIS_URL:
            broker = GaugeMetricFamily("broker_queue_length", "Messages waiting in the connection-test queue.")
            with contextlib.suppress(Exception):  # a broker that is down shows as no sample, not a failed scrape
                client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
                broker.add_metric([], client.llen(settings.CELERY_TASK_DEFAULT_QUEUE))
                client.close()
            yield broker
