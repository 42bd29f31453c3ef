"""Scheduled re-tests that keep a `connected` status from going stale.

The interval of a destination is its own `check_interval_minutes`, else its workspace's, else
HEALTH_CHECK_INTERVAL_MINUTES; 0 at any level that applies turns the checks off. A destination is due when its
last test (or, never tested, its creation) is older than its interval. Each scheduler tick plans the due ones
at a random moment within HEALTH_CHECK_JITTER_SECONDS (`health_check_due_at`), then starts the planned ones
whose moment has come, at most HEALTH_CHECK_MAX_CONCURRENT_PER_WORKSPACE running per workspace; the others
wait for a later tick. A tick starts at most HEALTH_CHECK_START_BATCH checks and stops starting them after
HEALTH_CHECK_START_SECONDS, so thousands falling due at once never hold up the rest of the tick (the reaper,
notifications, queued jobs): the others stay planned and start at the next ticks. Runs are recorded with the
trigger `schedule` and go through the runtime seam (`connection_test_submit`), so the same code serves the
embedded and the distributed runtime. An unchanged stored config is not validated again (`validated_config_mark`).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..errors import InvalidInput, stored_config_invalid
from ..models import Destination, TestRun, TestRunTrigger, WorkspaceMonitoring
from ..runs.runtime import connection_test_submit
from ..runs.service import connection_test_prepare, run_alive
from ..runs.status import destination_status_record

PLAN_BATCH = 500
READY_WINDOW = 20  # a tick looks at this many batches of ready checks to fill one past the capped workspaces


def _older_than(minutes: int, now: datetime) -> Q:
    return Q(last_checked__lt=now - timedelta(minutes=minutes))


def due_destinations(*, now: datetime):
    """Destinations whose interval has passed, not already planned and with no test in progress."""
    # .order_by(): with the models' default ordering DISTINCT would be over (interval, created_at) pairs,
    # one OR branch per destination below instead of one per interval.
    overrides = (
        Destination.objects.filter(check_interval_minutes__gt=0)
        .order_by()
        .values_list("check_interval_minutes", flat=True)
        .distinct()
    )
    workspace_intervals = (
        WorkspaceMonitoring.objects.filter(check_interval_minutes__gt=0)
        .order_by()
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
    """Start the planned checks whose time has come, within each workspace's cap of concurrent checks, at most
    HEALTH_CHECK_START_BATCH of them and for at most HEALTH_CHECK_START_SECONDS."""
    now = now or timezone.now()
    cap = settings.HEALTH_CHECK_MAX_CONCURRENT_PER_WORKSPACE
    batch = max(1, settings.HEALTH_CHECK_START_BATCH)
    deadline = time.monotonic() + settings.HEALTH_CHECK_START_SECONDS
    report = StartReport()
    ready = list(
        Destination.objects.filter(health_check_due_at__lte=now)
        .order_by("health_check_due_at")
        .values_list("pk", "workspace_id", "health_check_due_at")[: batch * READY_WINDOW]
    )
    running = Counter(
        dict(
            TestRun.objects.filter(
                run_alive(now), workspace_id__in={ws for _pk, ws, _at in ready}, trigger=TestRunTrigger.SCHEDULE
            )
            .order_by()
            .values("workspace_id")
            .annotate(n=Count("pk"))
            .values_list("workspace_id", "n")
        )
    )
    chosen = {}
    for pk, workspace_id, due_at in ready:
        if cap > 0 and running[workspace_id] >= cap:
            report.capped += 1
            continue  # stays planned: a later tick starts it
        if len(chosen) < batch:
            chosen[pk] = due_at
            running[workspace_id] += 1
    destinations = Destination.objects.select_related("workspace", "connection").in_bulk(list(chosen))
    for pk, due_at in chosen.items():
        if time.monotonic() > deadline and (report.started or report.invalid):
            break  # the rest stay planned for the next tick
        if not Destination.objects.filter(pk=pk, health_check_due_at=due_at).update(health_check_due_at=None):
            continue  # another scheduler took it
        destination = destinations.get(pk)
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
        report.started.append(prepared.test_run.pk)
    return report
