"""The issue's done-when in the distributed runtime: Celery beat ticks the scheduler on a worker, the worker
re-tests a destination whose key was revoked, it turns `error`, and the notification URL receives a signed
event (verified with the standardwebhooks library by the receiver)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

pytest.importorskip("tests.topology", reason="needs the distributed runtime's test topology")

from destinations.models import Destination, DestinationStatus, TestRun
from destinations.services.notifications import workspace_monitoring_update
from tests.emulators.notification_receiver import NotificationReceiver
from tests.factories import DestinationFactory, WorkspaceFactory

pytestmark = [pytest.mark.distributed, pytest.mark.django_db(transaction=True)]


def test_a_revoked_key_turns_error_on_the_next_scheduled_check_and_is_notified(topology, receiver):
    workspace = WorkspaceFactory()
    with NotificationReceiver() as notified:
        _monitoring, notified.secret = workspace_monitoring_update(
            workspace=workspace, notification_url=f"{notified.url}/notifications"
        )
        destination = DestinationFactory(
            workspace=workspace,
            config={"url": f"{receiver.url}/hooks/in"},
            secrets={"headers": {"X-API-Key": "k-123"}},
        )
        Destination.objects.filter(pk=destination.pk).update(
            status=DestinationStatus.CONNECTED, last_tested_at=timezone.now() - timedelta(hours=25)
        )
        receiver.required_headers = {"X-API-Key": "rotated-by-the-vendor"}  # the key stopped working

        topology.worker(beat=True, env={"SCHEDULER_TICK_SECONDS": 0.5, "HEALTH_CHECK_JITTER_SECONDS": 0})
        deadline = time.monotonic() + 60
        while not notified.verified and time.monotonic() < deadline:
            time.sleep(0.1)

        assert notified.verified, "no signed notification arrived"
        [event] = notified.verified
    destination.refresh_from_db()
    assert destination.status == DestinationStatus.ERROR and "401" in destination.status_error
    run = TestRun.objects.get(destination=destination)
    assert run.trigger == "schedule" and run.success is False
    data = event["payload"]["data"]
    assert (data["previous_status"], data["status"], data["trigger"]) == ("connected", "error", "schedule")
    assert data["test_run_id"] == str(run.pk)
