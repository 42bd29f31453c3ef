"""Connection tests: one service behind the SSE endpoints, the admin page, the bulk command and the scheduler.

`connection_test_prepare` validates and records a TestRun; `connection_test_execute` runs the connector's
steps, publishes each result to the run's django-eventstream channel, stores the history and updates the
destination's status. `connection_test_submit` hands a run to the runtime the settings choose: the embedded
thread pool (no REDIS_URL) or a Celery task on the workers (REDIS_URL), so the work finishes (and the status
is saved) even when the client that asked goes away.

A running test beats a heartbeat on its TestRun; `reap_interrupted_runs` ends the runs whose process died
(`interrupted`), so no run and no watcher waits for ever. A result is written onto the destination only when
the test used its stored config and that config is unchanged since the test started.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from connectors.runtime.base import FAILED
from connectors.runtime.runner import run_test
from zeotap_composable.observability import RUNS_INTERRUPTED, bind_test_run, observe_test_run

from .audit import audit_record
from .config import connector_class_for, effective_config, merge_config
from .crypto import encrypt_json
from .errors import BackendUnavailable
from .expiry import credentials_expiry_record, expiry_warnings_enqueue
from .health import destination_status_record
from .models import AuditAction, Destination, TestRun, TestRunTrigger
from .oauth import connection_refresh_if_due
from .representation import destination_as_dict
from .services import destination_config_check, outbound_policy, rotated_secrets_store, stored_config_digest
from .sse import TestRunEventStorage, release_connection, send_stored_event

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
INTERRUPTED_MESSAGE = "The test was interrupted: the process running it stopped before it finished."


@dataclass
class PreparedTest:
    test_run: TestRun
    config: dict  # effective config, secrets in clear: never serialised or logged (encrypted for the broker)

    def __repr__(self) -> str:
        return f"PreparedTest({self.test_run.pk})"


def connection_test_prepare(
    *,
    workspace,
    actor,
    trigger: str = TestRunTrigger.API,
    destination: Destination | None = None,
    destination_type: str | None = None,
    config: dict | None = None,
    connection_id=None,
) -> PreparedTest:
    """Validate what will be tested and record the run. For a stored destination `config` overrides keys.

    A test of a stored destination (or of a new config on a shared connection) enters the audit history.
    """
    digest = ""
    connection_obj = None
    if destination is not None:
        destination_type = destination.destination_type
        connector_cls = connector_class_for(destination_type)
        own = destination.own_config()
        if config:
            own = merge_config(connector_cls, own, config)
        connection_refresh_if_due(destination.connection)
        if not config:
            digest = stored_config_digest(destination)  # only this config's result is stored
        credentials = destination.connection.credentials if destination.connection_id else None
        effective = effective_config(connector_cls, own, credentials)
    else:
        connection_obj, own, effective = destination_config_check(
            workspace=workspace, destination_type=destination_type, config=config or {}, connection_id=connection_id
        )
        if connection_refresh_if_due(connection_obj):
            effective = effective_config(connector_class_for(destination_type), own, connection_obj.credentials)
    test_run = TestRun.objects.create(
        workspace=workspace,
        destination=destination,
        destination_type=destination_type,
        actor=actor,
        trigger=trigger,
        config_digest=digest,
    )
    target = destination or connection_obj
    if target is not None:
        audit_record(
            workspace=workspace,
            actor=actor,
            via=trigger,
            action=AuditAction.TEST,
            target=target,
            details={"test_run_id": str(test_run.pk), "overridden": sorted(config or {}) if destination else []},
        )
    return PreparedTest(test_run, effective)


@bind_test_run
def connection_test_execute(prepared: PreparedTest, *, save_status: bool = True, publish: bool = True) -> TestRun:
    """Run the steps, publish and store each, then the `done` event. Never raises: a run always ends."""
    test_run = prepared.test_run
    started = time.monotonic()
    steps: list[dict] = []
    with _heartbeat.beating(test_run.pk):
        try:
            connector = connector_class_for(test_run.destination_type)(prepared.config, policy=outbound_policy())
            for result in run_test(connector, timeout=settings.CONNECTION_TEST_TIMEOUT_SECONDS):
                step = result.as_dict()
                steps.append(step)
                if publish:
                    send_stored_event(test_run.channel, "step", step)
            success = not any(step["status"] == FAILED for step in steps)
            finished = _finish(test_run, steps, success, started, save_status=save_status)
            if test_run.destination_id is not None:
                rotated_secrets_store(destination_id=test_run.destination_id, rotated=connector.rotated_secrets)
            if not finished:
                return test_run  # ended meanwhile as interrupted: its `done` was sent
            done = {
                "success": success,
                "steps": steps,
                "duration_ms": test_run.duration_ms,
                "test_run_id": str(test_run.pk),
            }
            if publish and test_run.destination_id is not None:
                destination = Destination.objects.filter(pk=test_run.destination_id).first()
                if destination is not None:
                    done["destination"] = destination_as_dict(destination)
        except Exception as exc:  # the stream must end with `done` whatever happened
            logger.exception("connection test %s failed to run", test_run.pk)
            duration_ms = int((time.monotonic() - started) * 1000)
            TestRun.objects.filter(pk=test_run.pk, finished_at__isnull=True).update(
                steps=steps, success=False, finished_at=timezone.now(), duration_ms=duration_ms
            )
            done = {
                "success": False,
                "steps": steps,
                "duration_ms": duration_ms,
                "test_run_id": str(test_run.pk),
                "error": f"The test could not be completed ({type(exc).__name__}).",
            }
        finally:
            release_connection()
    if publish:
        send_stored_event(test_run.channel, "done", done)
    return test_run


def _finish(test_run: TestRun, steps: list[dict], success: bool, started: float, *, save_status: bool) -> bool:
    """Store the result; False when the run was ended meanwhile (then nothing is written)."""
    now = timezone.now()
    test_run.steps = steps
    test_run.success = success
    test_run.finished_at = now
    test_run.duration_ms = int((time.monotonic() - started) * 1000)
    with transaction.atomic():
        if not TestRun.objects.filter(pk=test_run.pk, finished_at__isnull=True).update(
            steps=steps, success=success, finished_at=now, duration_ms=test_run.duration_ms
        ):
            return False
        observe_test_run(test_run)
        if test_run.destination_id is None or not save_status or not test_run.config_digest:
            return True  # a new connection, or a test with an override: no stored status to write
        destination = (
            Destination.objects.select_for_update(of=("self",))
            .select_related("connection")
            .filter(pk=test_run.destination_id)
        ).first()
        if destination is None or stored_config_digest(destination) != test_run.config_digest:
            return True  # the config changed while the test ran: this result is not about it
        first_failure = next((step for step in steps if step["status"] == FAILED), None)
        destination_status_record(
            destination_id=destination.pk,
            locked=destination,
            success=success,
            status_error="" if success else first_failure["message"],
            tested_at=now,
            test_run=test_run,
        )
        credentials_expiry_record(destination=destination, steps=steps, success=success)
        if test_run.trigger == TestRunTrigger.SCHEDULE:  # scheduled checks warn before credentials expire
            expiry_warnings_enqueue(destination=destination, test_run=test_run)
    return True


class Heartbeat:
    """One thread per process stamps `heartbeat_at` on every row of `model` (runs, jobs) it is executing.

    One UPDATE per interval for all of them, and it keeps beating while a step waits on a slow vendor.
    """

    def __init__(self, model):
        self._model = model
        self._lock = threading.Lock()
        self._running: dict = {}
        self._thread: threading.Thread | None = None

    def beating(self, run_id):
        heartbeat = self

        class _Beating:
            def __enter__(self):
                with heartbeat._lock:
                    heartbeat._running[run_id] = heartbeat._running.get(run_id, 0) + 1
                    if heartbeat._thread is None or not heartbeat._thread.is_alive():
                        heartbeat._thread = threading.Thread(
                            target=heartbeat._beat, name=f"{heartbeat._model.__name__}-heartbeat", daemon=True
                        )
                        heartbeat._thread.start()

            def __exit__(self, *exc):
                with heartbeat._lock:
                    heartbeat._running[run_id] -= 1
                    if not heartbeat._running[run_id]:
                        del heartbeat._running[run_id]

        return _Beating()

    def _beat(self) -> None:
        while True:
            time.sleep(settings.CONNECTION_TEST_HEARTBEAT_SECONDS)
            with self._lock:
                running = list(self._running)
            if not running:
                continue
            try:
                self._model.objects.filter(pk__in=running, finished_at__isnull=True).update(heartbeat_at=timezone.now())
            except Exception:
                logger.exception("could not record the heartbeat of %d running %s", len(running), self._model.__name__)
            finally:
                connection.close()


_heartbeat = Heartbeat(TestRun)


def reap_interrupted_runs() -> int:
    """End every run whose process stopped mid-test: failed, `interrupted`, and its watchers get `done`.

    A run is interrupted when its heartbeat is older than CONNECTION_TEST_STALE_SECONDS, or when it never
    started within CONNECTION_TEST_QUEUE_SECONDS of being queued. The destination's status is not touched.
    Safe to call from any process, as often as wanted: each run is ended once. Returns how many were ended.
    """
    now = timezone.now()
    stale = TestRun.objects.filter(finished_at__isnull=True).filter(
        Q(heartbeat_at__lt=now - timedelta(seconds=settings.CONNECTION_TEST_STALE_SECONDS))
        | Q(heartbeat_at__isnull=True, started_at__lt=now - timedelta(seconds=settings.CONNECTION_TEST_QUEUE_SECONDS))
    )
    ended = 0
    try:
        for run in stale.select_related("destination")[:500]:
            steps = [json.loads(event.data) for event in run.events.filter(type="step").order_by("seq")]
            duration_ms = int((now - run.started_at).total_seconds() * 1000)
            if not TestRun.objects.filter(pk=run.pk, finished_at__isnull=True).update(
                finished_at=now, success=False, steps=steps, duration_ms=duration_ms, error_code=INTERRUPTED
            ):
                continue  # it finished meanwhile
            ended += 1
            RUNS_INTERRUPTED.inc()
            logger.warning("connection test %s was interrupted (its worker stopped)", run.pk)
            done = {
                "success": False,
                "steps": steps,
                "duration_ms": duration_ms,
                "test_run_id": str(run.pk),
                "error": INTERRUPTED_MESSAGE,
                "error_code": INTERRUPTED,
            }
            if run.destination is not None:
                done["destination"] = destination_as_dict(run.destination)
            send_stored_event(run.channel, "done", done)
    finally:
        release_connection()
    return ended


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
            TestRunEventStorage.starts_empty(test_run.channel)
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
    from .tasks import connection_test_run

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
