"""Destination health over time: a test's outcome recorded (and a status change notified), and the scheduled
re-tests that keep a `connected` status from going stale.

The interval of a destination is its own `check_interval_minutes`, else its workspace's, else
HEALTH_CHECK_INTERVAL_MINUTES; 0 at any level that applies turns the checks off. A destination is due when its
last test (or, never tested, its creation) is older than its interval. Each scheduler tick plans the due ones
at a random moment within HEALTH_CHECK_JITTER_SECONDS (`health_check_due_at`), then starts the planned ones
whose moment has come, at most HEALTH_CHECK_MAX_CONCURRENT_PER_WORKSPACE running per workspace; the others
wait for a later tick. Runs are recorded with the trigger `schedule` and go through the runtime seam
(`connection_test_submit`), so the same code serves the embedded and the distributed runtime.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from .errors import InvalidInput
from .models import Destination, DestinationStatus, TestRun, TestRunTrigger, WorkspaceMonitoring
from .services.notifications import status_change_enqueue

logger = logging.getLogger(__name__)

# The changes that are notified; pending -> anything is a first result, not a change.
NOTIFIED_CHANGES = {
    (DestinationStatus.CONNECTED, DestinationStatus.ERROR),
    (DestinationStatus.ERROR, DestinationStatus.CONNECTED),
}
PLAN_BATCH = 500


def destination_status_record(
    *,
    destination_id,
    success: bool,
    status_error: str,
    tested_at: datetime,
    test_run: TestRun | None = None,
    locked: Destination | None = None,
) -> str | None:
    """Save a test's outcome as the destination's status; a connected <-> error change emits a notification.

    `locked` is the destination when the caller already holds its row lock in the current transaction (no
    second read). Returns the previous status (None when the destination is gone).
    """
    current = DestinationStatus.CONNECTED if success else DestinationStatus.ERROR
    with transaction.atomic(savepoint=False):  # part of the caller's transaction when there is one
        if locked is not None:
            row = {
                "id": locked.pk,
                "name": locked.name,
                "destination_type": locked.destination_type,
                "workspace_id": locked.workspace_id,
                "status": locked.status,
            }
        else:
            row = (
                Destination.objects.select_for_update()
                .filter(pk=destination_id)
                .values("id", "name", "destination_type", "workspace_id", "status")
                .first()
            )
        if row is None:
            return None
        Destination.objects.filter(pk=row["id"]).update(
            status=current, status_error="" if success else status_error, last_tested_at=tested_at
        )
        if (row["status"], current) in NOTIFIED_CHANGES:
            status_change_enqueue(
                workspace_id=row["workspace_id"],
                destination=row,
                previous=row["status"],
                current=current,
                status_error="" if success else status_error,
                test_run=test_run,
            )
    return row["status"]


# --- scheduling ----------------------------------------------------------------------------------


def _older_than(minutes: int, now: datetime) -> Q:
    return Q(last_checked__lt=now - timedelta(minutes=minutes))


def due_destinations(*, now: datetime):
    """Destinations whose interval has passed, not already planned and with no test in progress."""
    overrides = (
        Destination.objects.filter(check_interval_minutes__gt=0)
        .values_list("check_interval_minutes", flat=True)
        .distinct()
    )
    workspace_intervals = (
        WorkspaceMonitoring.objects.filter(check_interval_minutes__gt=0)
        .values_list("check_interval_minutes", flat=True)
        .distinct()
    )
    due = Q(pk__in=[])
    for minutes in overrides:
        due |= Q(check_interval_minutes=minutes) & _older_than(minutes, now)
    inherits = Q(check_interval_minutes__isnull=True)
    for minutes in workspace_intervals:
        due |= inherits & Q(workspace__monitoring__check_interval_minutes=minutes) & _older_than(minutes, now)
    default = settings.HEALTH_CHECK_INTERVAL_MINUTES
    if default > 0:
        no_workspace_interval = Q(workspace__monitoring__isnull=True) | Q(
            workspace__monitoring__check_interval_minutes__isnull=True
        )
        due |= inherits & no_workspace_interval & _older_than(default, now)
    running = TestRun.objects.filter(destination=OuterRef("pk"), finished_at__isnull=True, started_at__gt=_stale(now))
    return (
        Destination.objects.annotate(last_checked=Coalesce("last_tested_at", "created_at"))
        .filter(due, health_check_due_at__isnull=True)
        .exclude(Exists(running))
    )


def _stale(now: datetime) -> datetime:
    """Unfinished runs older than this are not counted as running (their process died; the reaper ends them)."""
    return now - timedelta(seconds=settings.CONNECTION_TEST_TIMEOUT_SECONDS * 2 + 60)


def health_checks_plan(*, now: datetime | None = None) -> int:
    """Give each due destination a jittered start time; returns how many were planned."""
    now = now or timezone.now()
    jitter = max(0.0, settings.HEALTH_CHECK_JITTER_SECONDS)
    ids = list(due_destinations(now=now).values_list("pk", flat=True)[: PLAN_BATCH * 10])
    plans = [Destination(pk=pk, health_check_due_at=now + timedelta(seconds=random.uniform(0, jitter))) for pk in ids]  # noqa: S311  (spreading load, not security)
    Destination.objects.bulk_update(plans, ["health_check_due_at"], batch_size=PLAN_BATCH)
    return len(plans)


@dataclass
class StartReport:
    started: list = field(default_factory=list)  # test-run ids
    invalid: list = field(default_factory=list)  # destination ids whose stored config no longer validates
    capped: int = 0  # due, but their workspace's cap was reached


def health_checks_start(*, now: datetime | None = None) -> StartReport:
    """Start the planned checks whose time has come, within each workspace's cap of concurrent checks."""
    from . import testing

    now = now or timezone.now()
    cap = settings.HEALTH_CHECK_MAX_CONCURRENT_PER_WORKSPACE
    report = StartReport()
    ready = list(
        Destination.objects.filter(health_check_due_at__lte=now)
        .order_by("health_check_due_at")
        .values_list("pk", "workspace_id", "health_check_due_at")
    )
    running: dict = {}
    for workspace_id in {workspace_id for _pk, workspace_id, _at in ready}:
        running[workspace_id] = TestRun.objects.filter(
            workspace_id=workspace_id,
            trigger=TestRunTrigger.SCHEDULE,
            finished_at__isnull=True,
            started_at__gt=_stale(now),
        ).count()
    for pk, workspace_id, due_at in ready:
        if cap > 0 and running[workspace_id] >= cap:
            report.capped += 1
            continue  # stays planned: a later tick starts it
        if not Destination.objects.filter(pk=pk, health_check_due_at=due_at).update(health_check_due_at=None):
            continue  # another scheduler took it
        destination = Destination.objects.select_related("workspace", "connection").filter(pk=pk).first()
        if destination is None:
            continue
        try:
            prepared = testing.connection_test_prepare(
                workspace=destination.workspace, actor=None, trigger=TestRunTrigger.SCHEDULE, destination=destination
            )
        except InvalidInput as exc:
            # The stored config no longer validates: that is the check's result.
            destination_status_record(
                destination_id=pk,
                success=False,
                status_error=f"The stored config is not valid: {exc}",
                tested_at=timezone.now(),
            )
            report.invalid.append(pk)
            continue
        testing.connection_test_submit(prepared)
        running[workspace_id] += 1
        report.started.append(prepared.test_run.pk)
    return report
