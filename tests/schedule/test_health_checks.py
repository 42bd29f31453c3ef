"""Scheduled health checks: which destinations are due, jitter, the per-workspace cap, the `schedule`
trigger, one embedded scheduler per lock, and the issue's end-to-end case."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from destinations.models import Destination, DestinationStatus, TestRun
from destinations.models import TestRunTrigger as Trigger
from destinations.schedule.health_checks import due_destinations, health_checks_plan, health_checks_start
from destinations.schedule.tick import EmbeddedScheduler, scheduler_tick
from destinations.services.notifications import workspace_monitoring_update
from tests.factories import WorkspaceFactory
from tests.hooks import hook, wait_for, wait_runs_finished

pytestmark = pytest.mark.django_db(transaction=True)


def checked_ago(destination, **delta):
    Destination.objects.filter(pk=destination.pk).update(last_tested_at=timezone.now() - timedelta(**delta))


def due_ids():
    return set(due_destinations(now=timezone.now()).values_list("pk", flat=True))


@pytest.fixture(autouse=True)
def _defaults(settings):
    settings.HEALTH_CHECK_INTERVAL_MINUTES = 24 * 60
    settings.HEALTH_CHECK_JITTER_SECONDS = 0
    settings.HEALTH_CHECK_MAX_CONCURRENT_PER_WORKSPACE = 4


def test_due_follows_the_default_workspace_and_destination_intervals(settings, receiver):
    stale, fresh = hook(receiver), hook(receiver)
    checked_ago(stale, hours=25)
    checked_ago(fresh, hours=23)
    new = hook(receiver)  # never tested: its creation counts as the last check
    assert due_ids() == {stale.pk}

    hourly = WorkspaceFactory()
    workspace_monitoring_update(workspace=hourly, check_interval_minutes=60)
    ws_due, ws_fresh = hook(receiver, workspace=hourly), hook(receiver, workspace=hourly)
    checked_ago(ws_due, minutes=61)
    checked_ago(ws_fresh, minutes=59)
    own = hook(receiver, workspace=hourly, check_interval_minutes=10)
    checked_ago(own, minutes=11)
    off = hook(receiver, workspace=hourly, check_interval_minutes=0)
    checked_ago(off, days=30)
    assert due_ids() == {stale.pk, ws_due.pk, own.pk}

    silent = WorkspaceFactory()
    workspace_monitoring_update(workspace=silent, check_interval_minutes=0)
    checked_ago(hook(receiver, workspace=silent), days=30)
    overrides = hook(receiver, workspace=silent, check_interval_minutes=5)
    checked_ago(overrides, minutes=6)
    assert due_ids() == {stale.pk, ws_due.pk, own.pk, overrides.pk}

    settings.HEALTH_CHECK_INTERVAL_MINUTES = 0  # off by default: only explicit intervals remain
    assert due_ids() == {ws_due.pk, own.pk, overrides.pk}
    assert new.pk not in due_ids()


def test_planned_or_running_destinations_are_not_due_again(receiver):
    destination = hook(receiver)
    checked_ago(destination, days=2)
    assert health_checks_plan() == 1
    assert health_checks_plan() == 0  # already planned
    Destination.objects.filter(pk=destination.pk).update(health_check_due_at=None)
    TestRun.objects.create(workspace=destination.workspace, destination=destination, destination_type="webhook")
    assert due_ids() == set()  # a test is in progress


def test_jitter_spreads_the_planned_starts(settings, receiver):
    settings.HEALTH_CHECK_JITTER_SECONDS = 600
    workspace = WorkspaceFactory()
    for _ in range(20):
        checked_ago(hook(receiver, workspace=workspace), days=2)
    before = timezone.now()
    assert health_checks_plan() == 20
    planned = list(Destination.objects.values_list("health_check_due_at", flat=True))
    assert all(before <= at <= before + timedelta(seconds=601) for at in planned)
    assert len(set(planned)) == 20
    assert max(planned) - min(planned) > timedelta(seconds=60)
    assert health_checks_start().started == []  # none is due yet (each waits for its moment)


def test_the_cap_limits_concurrent_checks_per_workspace(settings, receiver):
    settings.HEALTH_CHECK_MAX_CONCURRENT_PER_WORKSPACE = 2
    receiver.slow("hook", 0.5)
    busy, quiet = WorkspaceFactory(), WorkspaceFactory()
    for _ in range(5):
        checked_ago(hook(receiver, workspace=busy), days=2)
    checked_ago(hook(receiver, workspace=quiet), days=2)
    health_checks_plan()

    first = health_checks_start()
    started = TestRun.objects.filter(pk__in=first.started)
    assert started.filter(workspace=busy).count() == 2
    assert started.filter(workspace=quiet).count() == 1
    assert first.capped == 3
    assert health_checks_start().started == []  # still two running in the busy workspace

    wait_runs_finished()
    assert len(health_checks_start().started) == 2
    wait_runs_finished()
    assert len(health_checks_start().started) == 1
    wait_runs_finished()
    runs = TestRun.objects.all()
    assert runs.count() == 6 and {run.trigger for run in runs} == {Trigger.SCHEDULE}
    assert not Destination.objects.filter(status=DestinationStatus.PENDING).exists()
    assert due_ids() == set()  # each is fresh again


def test_a_stored_config_that_no_longer_validates_is_an_error(receiver):
    destination = hook(receiver, status=DestinationStatus.CONNECTED)
    Destination.objects.filter(pk=destination.pk).update(config={"url": "not a url"}, secrets={})
    checked_ago(destination, days=2)
    health_checks_plan()
    report = health_checks_start()
    assert report.invalid == [destination.pk] and report.started == []
    destination.refresh_from_db()
    assert destination.status == DestinationStatus.ERROR
    assert destination.status_error.startswith("The stored config is not valid")
    assert due_ids() == set()


def test_only_the_lease_holder_ticks(receiver):
    first = EmbeddedScheduler(tick_seconds=0.05, lease_seconds=5).start()
    second = EmbeddedScheduler(tick_seconds=0.05, lease_seconds=5).start()
    try:
        wait_for(lambda: first.is_leader or second.is_leader)
        wait_for(lambda: True, timeout=0.3)
        assert [first.is_leader, second.is_leader].count(True) == 1
        leader, follower = (first, second) if first.is_leader else (second, first)
        leader.stop()  # the process that ticked goes away: the other takes over
        wait_for(lambda: follower.is_leader, timeout=5)
    finally:
        first.stop()
        second.stop()


def test_credentials_that_stop_working_turn_error_and_notify_signed(
    settings, tmp_path, receiver, notification_receiver
):
    """The issue's done-when, in the embedded runtime: the scheduler thread re-tests a destination whose key
    was revoked, the destination turns `error`, and the notification URL receives a signed event."""
    workspace = WorkspaceFactory()
    _monitoring, secret = workspace_monitoring_update(
        workspace=workspace, notification_url=f"{notification_receiver.url}/notifications"
    )
    notification_receiver.secret = secret
    destination = hook(receiver, workspace=workspace)
    scheduler_tick()
    assert not TestRun.objects.exists()  # created just now: not due

    # It worked yesterday ...
    Destination.objects.filter(pk=destination.pk).update(
        status=DestinationStatus.CONNECTED, last_tested_at=timezone.now() - timedelta(hours=25)
    )
    # ... and the vendor has since revoked the key it uses.
    receiver.required_headers = {"X-API-Key": "rotated-by-the-vendor"}

    scheduler = EmbeddedScheduler(tick_seconds=0.1, lease_seconds=5).start()
    try:
        wait_for(lambda: notification_receiver.verified, timeout=15)
    finally:
        scheduler.stop()

    destination.refresh_from_db()
    assert destination.status == DestinationStatus.ERROR
    assert "401" in destination.status_error
    run = TestRun.objects.get(destination=destination)
    assert run.trigger == Trigger.SCHEDULE and run.success is False
    [event] = notification_receiver.verified  # Webhook.verify accepted the signature
    data = event["payload"]["data"]
    assert (data["previous_status"], data["status"], data["trigger"]) == ("connected", "error", "schedule")
    assert data["destination"]["id"] == str(destination.pk) and data["test_run_id"] == str(run.pk)
