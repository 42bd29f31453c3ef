"""Connection tests: one service behind the SSE endpoints, the admin page, the bulk command, the jobs and the
scheduler.

`connection_test_prepare` validates and records a TestRun; `connection_test_execute` runs the connector's
steps, publishes each result to the run's django-eventstream channel, stores the history and updates the
destination's status. Handing a run to the embedded pool or a worker is the runtime's (`runs.runtime`).

A running test beats a heartbeat on its TestRun; `reap_interrupted_runs` ends the runs whose process died
(`interrupted`), so no run and no watcher waits for ever. `run_alive` is the one rule of which unfinished
runs are still running, shared by the reaper and the scheduler. A result is written onto the destination
only when the test used its stored config and that config is unchanged since the test started.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.runtime.base import FAILED, unproven_requirements
from connectors.runtime.runner import run_test

from ..config import connector_class_for, effective_config, merge_config, outbound_policy
from ..db import Heartbeat, release_connection
from ..events.relay import send_stored_event
from ..metrics import RUNS_INTERRUPTED, bind_test_run, observe_test_run
from ..models import (
    AuditAction,
    Destination,
    TestRun,
    TestRunTrigger,
    config_validation_mark,
    stored_config_digest,
)
from ..representation import destination_as_dict
from ..services import destination_config_check, rotated_secrets_store
from ..services.audit import audit_record
from ..services.expiry import credentials_expiry_record, expiry_warnings_enqueue
from ..services.oauth_tokens import connection_refresh_if_due
from .status import destination_status_record

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
        mark = config_validation_mark(digest, destination_type) if digest else ""
        if mark and destination.validated_config_mark == mark:
            effective = {**(credentials or {}), **own}  # this very config validated before: not again
        else:
            effective = effective_config(connector_cls, own, credentials)
            if mark:
                Destination.objects.filter(pk=destination.pk).update(validated_config_mark=mark)
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
            destination = None
            if publish and test_run.destination_id is not None:
                destination = Destination.objects.filter(pk=test_run.destination_id).first()
            done = done_payload(test_run, success=success, steps=steps, destination=destination)
        except Exception as exc:  # the stream must end with `done` whatever happened
            logger.exception("connection test %s failed to run", test_run.pk)
            duration_ms = int((time.monotonic() - started) * 1000)
            TestRun.objects.filter(pk=test_run.pk, finished_at__isnull=True).update(
                steps=steps, success=False, finished_at=timezone.now(), duration_ms=duration_ms
            )
            error = f"The test could not be completed ({type(exc).__name__})."
            done = done_payload(test_run, success=False, steps=steps, duration_ms=duration_ms, error=error)
        finally:
            release_connection()
    if publish:
        send_stored_event(test_run.channel, "done", done)
    return test_run


def done_payload(
    test_run: TestRun,
    *,
    success: bool,
    steps: list[dict],
    duration_ms: int | None = None,
    error: str = "",
    error_code: str = "",
    destination: Destination | None = None,
) -> dict:
    """The `done` event that ends every run's stream: the outcome, and the destination as it is now."""
    done = {
        "success": success,
        "steps": steps,
        "duration_ms": test_run.duration_ms if duration_ms is None else duration_ms,
        "test_run_id": str(test_run.pk),
        "unproven": unproven_requirements(steps),
    }
    if error:
        done["error"] = error
    if error_code:
        done["error_code"] = error_code
    if destination is not None:
        done["destination"] = destination_as_dict(destination)
    return done


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
            also=credentials_expiry_record(destination=destination, steps=steps, success=success),
        )
        if test_run.trigger == TestRunTrigger.SCHEDULE:  # scheduled checks warn before credentials expire
            expiry_warnings_enqueue(destination=destination, test_run=test_run)
    return True


_heartbeat = Heartbeat(TestRun)


def _alive_since(now) -> tuple:
    """The oldest heartbeat of a running test, and the oldest queueing of one that never started."""
    return (
        now - timedelta(seconds=settings.CONNECTION_TEST_STALE_SECONDS),
        now - timedelta(seconds=settings.CONNECTION_TEST_QUEUE_SECONDS),
    )


def run_alive(now) -> Q:
    """An unfinished run is alive while its heartbeat is fresh, or, not started yet, while it is young enough
    in the queue. The scheduler counts these as running; the reaper ends the others (`run_dead`)."""
    beat_since, queued_since = _alive_since(now)
    return Q(finished_at__isnull=True) & (
        Q(heartbeat_at__gte=beat_since) | Q(heartbeat_at__isnull=True, started_at__gte=queued_since)
    )


def run_dead(now) -> Q:
    """An unfinished run that is not alive (`run_alive`): its process stopped, or it never left the queue."""
    beat_since, queued_since = _alive_since(now)
    return Q(finished_at__isnull=True) & (
        Q(heartbeat_at__lt=beat_since) | Q(heartbeat_at__isnull=True, started_at__lt=queued_since)
    )


def reap_interrupted_runs() -> int:
    """End every run whose process stopped mid-test: failed, `interrupted`, and its watchers get `done`.

    A run is interrupted when its heartbeat is older than CONNECTION_TEST_STALE_SECONDS, or when it never
    started within CONNECTION_TEST_QUEUE_SECONDS of being queued. The destination's status is not touched.
    Safe to call from any process, as often as wanted: each run is ended once. Returns how many were ended.
    """
    now = timezone.now()
    stale = TestRun.objects.filter(run_dead(now))
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
            done = done_payload(
                run,
                success=False,
                steps=steps,
                duration_ms=duration_ms,
                error=INTERRUPTED_MESSAGE,
                error_code=INTERRUPTED,
                destination=run.destination,
            )
            send_stored_event(run.channel, "done", done)
    finally:
        release_connection()
    return ended
