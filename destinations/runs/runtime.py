"""The runtime seam: where a prepared test runs. The embedded thread pool (no REDIS_URL) or a Celery task on
the workers (REDIS_URL), so the work finishes (and the status is saved) even when the client that asked goes
away. The task lives here, beside `connection_test_submit`, which enqueues it; its name is a wire contract.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from ..crypto import decrypt_json, encrypt_json
from ..db import release_connection
from ..errors import BackendUnavailable
from ..events.storage import EventStorage
from ..models import TestRun
from .service import PreparedTest, connection_test_execute

logger = logging.getLogger(__name__)


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=settings.CONNECTION_TEST_WORKERS, thread_name_prefix="connection-test")


def connection_test_claim(test_run: TestRun) -> bool:
    """Mark a queued run started; False when it already ended (reaped while queued, or delivered twice).

    A run claimed for the first time has published nothing yet, so its events are numbered from 1.
    """
    unfinished = TestRun.objects.filter(pk=test_run.pk, finished_at__isnull=True)
    try:
        if unfinished.filter(heartbeat_at__isnull=True).update(heartbeat_at=timezone.now()):
            EventStorage.starts_empty(test_run.channel)
            return True
        return bool(unfinished.update(heartbeat_at=timezone.now()))
    finally:
        release_connection()


def _execute_in_worker(prepared: PreparedTest) -> None:
    close_old_connections()
    try:
        if connection_test_claim(prepared.test_run):
            connection_test_execute(prepared)
    finally:
        connection.close()


def connection_test_submit(prepared: PreparedTest) -> None:
    """Run in the background: the embedded pool, or a Celery task; the run's channel carries its progress.

    The task carries the run id and the config encrypted (secrets never cross the broker in clear). When the
    broker is down the run is removed and BackendUnavailable raised (the API answers 503).
    """
    if settings.CONNECTION_TEST_RUNTIME != "distributed":
        _executor().submit(_execute_in_worker, prepared)
        return
    try:
        connection_test_run.apply_async(
            args=[str(prepared.test_run.pk), encrypt_json(prepared.config)],
            expires=settings.CONNECTION_TEST_QUEUE_SECONDS,
            retry=False,
        )
    except Exception as exc:  # kombu raises OperationalError, redis-py its own ConnectionError subclasses
        logger.error("could not queue connection test %s: %s", prepared.test_run.pk, type(exc).__name__)
        TestRun.objects.filter(pk=prepared.test_run.pk).delete()
        raise BackendUnavailable("The test queue is unavailable; try again shortly.") from None


@shared_task(name="destinations.tasks.connection_test_run", ignore_result=True)
def connection_test_run(test_run_id: str, sealed_config: str) -> None:
    """Run a prepared test; the effective config arrives encrypted with the service's keys."""
    test_run = TestRun.objects.filter(pk=test_run_id).first()
    if test_run is None or not connection_test_claim(test_run):
        return  # removed, or already ended (reaped while queued)
    connection_test_execute(PreparedTest(test_run, decrypt_json(sealed_config)))
