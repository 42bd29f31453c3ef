"""Connection tests: one service behind the SSE endpoints, the admin page and the bulk command.

`connection_test_prepare` validates and records a TestRun; `connection_test_execute` runs the connector's
steps, publishes each result to the run's django-eventstream channel, stores the history and updates the
destination's status. The API runs `execute` on a bounded worker pool so the work finishes (and the status
is saved) even when the client that asked goes away.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from django_eventstream import send_event

from connectors.base import FAILED
from connectors.runner import run_test
from zeotap_composable.observability import bind_test_run, observe_test_run

from .config import connector_class_for, effective_config, merge_config
from .health import destination_status_record
from .models import Destination, TestRun, TestRunTrigger
from .representation import destination_as_dict
from .services import destination_config_check, outbound_policy, rotated_secrets_store

logger = logging.getLogger(__name__)


@dataclass
class PreparedTest:
    test_run: TestRun
    config: dict  # effective config, secrets in clear: never serialised or logged

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
    """Validate what will be tested and record the run. For a stored destination `config` overrides keys."""
    if destination is not None:
        destination_type = destination.destination_type
        connector_cls = connector_class_for(destination_type)
        own = destination.own_config()
        if config:
            own = merge_config(connector_cls, own, config)
        credentials = destination.connection.credentials if destination.connection_id else None
        effective = effective_config(connector_cls, own, credentials)
    else:
        _connection, _own, effective = destination_config_check(
            workspace=workspace, destination_type=destination_type, config=config or {}, connection_id=connection_id
        )
    test_run = TestRun.objects.create(
        workspace=workspace, destination=destination, destination_type=destination_type, actor=actor, trigger=trigger
    )
    return PreparedTest(test_run, effective)


@bind_test_run
def connection_test_execute(prepared: PreparedTest, *, save_status: bool = True, publish: bool = True) -> TestRun:
    """Run the steps, publish and store each, then the `done` event. Never raises: a run always ends."""
    test_run = prepared.test_run
    started = time.monotonic()
    steps: list[dict] = []
    try:
        connector = connector_class_for(test_run.destination_type)(prepared.config, policy=outbound_policy())
        for result in run_test(connector, timeout=settings.CONNECTION_TEST_TIMEOUT_SECONDS):
            step = result.as_dict()
            steps.append(step)
            if publish:
                send_event(test_run.channel, "step", step)
        if test_run.destination_id is not None:
            rotated_secrets_store(destination_id=test_run.destination_id, rotated=connector.rotated_secrets)
        success = not any(step["status"] == FAILED for step in steps)
        destination = _finish(test_run, steps, success, started, save_status=save_status, describe=publish)
        done = {
            "success": success,
            "steps": steps,
            "duration_ms": test_run.duration_ms,
            "test_run_id": str(test_run.pk),
        }
        if destination is not None:
            done["destination"] = destination_as_dict(destination)
    except Exception as exc:  # the stream must end with `done` whatever happened
        logger.exception("connection test %s failed to run", test_run.pk)
        done = {
            "success": False,
            "steps": steps,
            "duration_ms": int((time.monotonic() - started) * 1000),
            "test_run_id": str(test_run.pk),
            "error": f"The test could not be completed ({type(exc).__name__}).",
        }
    if publish:
        send_event(test_run.channel, "done", done)
    return test_run


def _finish(
    test_run: TestRun, steps: list[dict], success: bool, started: float, *, save_status: bool, describe: bool = True
):
    now = timezone.now()
    test_run.steps = steps
    test_run.success = success
    test_run.finished_at = now
    test_run.duration_ms = int((time.monotonic() - started) * 1000)
    test_run.save(update_fields=["steps", "success", "finished_at", "duration_ms"])
    observe_test_run(test_run)
    if test_run.destination_id is None:
        return None
    if save_status:
        first_failure = next((step for step in steps if step["status"] == FAILED), None)
        destination_status_record(
            destination_id=test_run.destination_id,
            success=success,
            status_error="" if success else first_failure["message"],
            tested_at=now,
            test_run=test_run,
        )
    if not describe:
        return None  # no `done` event is published (the bulk test): nothing to re-read and serialise
    return Destination.objects.filter(pk=test_run.destination_id).first()


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=settings.CONNECTION_TEST_WORKERS, thread_name_prefix="connection-test")


def _execute_in_worker(prepared: PreparedTest) -> None:
    close_old_connections()
    try:
        connection_test_execute(prepared)
    finally:
        connection.close()


def connection_test_submit(prepared: PreparedTest) -> Future:
    """Run in the background worker pool; the run's channel carries its progress."""
    return _executor().submit(_execute_in_worker, prepared)
