"""Scheduled re-tests that keep a `connected` status from going stale.

The interval of a destination is its own `check_interval_minutes`, else its workspace's, else
HEALTH_CHECK_INTERVAL_MINUTES; 0 at any level that applies turns the checks off. A destination is due when its
last test (or, never tested, its creation) is older than its interval. Each scheduler tick plans the due ones
at a random moment within HEALTH_CHECK_JITTER_SECONDS (`health_check_due_at`), then starts the planned ones
whose moment has come, at most HEALTH_CHECK_MAX_CONCURRENT_PER_WORKSPACE running per workspace; the others
wait for a later tick. Runs are recorded with the trigger `schedule` and go through the runtime seam
(`connection_test_submit`), so the same code serves the embedded and the distributed runtime.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..errors import InvalidInput, stored_config_invalid
from ..models import Destination, TestRun, TestRunTrigger, WorkspaceMonitoring
from ..runs.runtime import connection_test_submit
from ..runs.service import connection_test_prepare, run_alive
from ..runs.status import destination_status_record

PLAN_BATCH = 500


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
    running = TestRun.objects.filter(run_alive(now), destination=OuterRef("pk"))
    return (
        Destination.objects.annotate(last_checked=Coalesce("last_tested_at", "created_at"))
        .filter(due, health_check_due_at__isnull=True)
        .exclude(Exists(running))
    )


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
            run_alive(now), workspace_id=workspace_id, trigger=TestRunTrigger.SCHEDULE
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
            prepared = connection_test_prepare(
                workspace=destination.workspace, actor=None, trigger=TestRunTrigger.SCHEDULE, destination=destination
            )
        except InvalidInput as exc:
            # The stored config no longer validates: that is the check's result.
            destination_status_record(
                destination_id=pk,
                success=False,
                status_error=stored_config_invalid(exc),
                tested_at=timezone.now(),
            )
            report.invalid.append(pk)
            continue
        connection_test_submit(prepared)
        running[workspace_id] += 1
        report.started.append(prepared.test_run.pk)
    return report
