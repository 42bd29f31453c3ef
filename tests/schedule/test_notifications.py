"""Status-change notifications: emitted on connected <-> error, signed per Standard Webhooks (verified by a
real receiver with the standardwebhooks library), retried with backoff, through the SSRF-guarded client."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from destinations.jobs.pool import run_destination_test
from destinations.models import DestinationStatus, Notification, NotificationState
from destinations.models import TestRunTrigger as Trigger
from destinations.services import notifications
from destinations.services.notifications import (
    notifications_deliver_due,
    signing_secret_rotate,
    workspace_monitoring_update,
)
from tests.factories import WorkspaceFactory
from tests.hooks import API_KEY, hook

pytestmark = pytest.mark.django_db(transaction=True)


def subscribe(workspace, receiver) -> str:
    _monitoring, secret = workspace_monitoring_update(
        workspace=workspace, notification_url=f"{receiver.url}/notifications"
    )
    receiver.secret = secret
    return secret


def test_a_status_change_is_notified_signed_and_verifies(receiver, notification_receiver):
    workspace = WorkspaceFactory()
    secret = subscribe(workspace, notification_receiver)
    destination = hook(receiver, key="revoked", workspace=workspace, status=DestinationStatus.CONNECTED)

    result = run_destination_test(destination, trigger=Trigger.CLI)
    assert result.success is False
    assert notifications_deliver_due() == 1

    [delivery] = notification_receiver.verified
    assert notification_receiver.rejected == 0
    notification = Notification.objects.get()
    assert delivery["id"] == notification.webhook_id
    data = delivery["payload"]["data"]
    assert delivery["payload"]["type"] == "destination.status_changed"
    assert data["destination"] == {"id": str(destination.pk), "name": destination.name, "destination_type": "webhook"}
    assert (data["previous_status"], data["status"]) == ("connected", "error")
    assert data["test_run_id"] == str(result.test_run_id)
    assert data["trigger"] == "cli"
    assert "401" in data["status_error"]
    call = notification_receiver.calls_to("notify")[0]
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= {h.lower() for h in call.headers}
    assert call.headers["Webhook-Signature"].startswith("v1,")
    # No secret anywhere in what was sent: not the destination's key, not the signing secret.
    assert b"revoked" not in call.body and secret.encode() not in call.body
    notification.refresh_from_db()
    assert (notification.state, notification.attempts, notification.last_status_code) == ("delivered", 1, 200)


def test_only_connected_error_changes_are_notified(receiver, notification_receiver):
    workspace = WorkspaceFactory()
    subscribe(workspace, notification_receiver)
    pending = hook(receiver, workspace=workspace)  # pending -> connected: a first result, not a change
    run_destination_test(pending)
    failing = hook(receiver, key="bad", workspace=workspace, status=DestinationStatus.ERROR)  # error -> error
    run_destination_test(failing)
    assert not Notification.objects.exists()

    fixed = hook(receiver, workspace=workspace, status=DestinationStatus.ERROR)  # error -> connected
    run_destination_test(fixed)
    [notification] = Notification.objects.all()
    assert (notification.payload["data"]["previous_status"], notification.payload["data"]["status"]) == (
        "error",
        "connected",
    )
    assert notification.payload["data"]["status_error"] == ""


def test_no_notification_url_no_notification(receiver):
    destination = hook(receiver, key="bad", status=DestinationStatus.CONNECTED)
    run_destination_test(destination)
    destination.refresh_from_db()
    assert destination.status == DestinationStatus.ERROR
    assert not Notification.objects.exists()


def test_a_failing_receiver_is_retried_with_backoff(settings, receiver, notification_receiver):
    settings.NOTIFICATION_RETRY_SECONDS = [0.3, 0.6]
    workspace = WorkspaceFactory()
    subscribe(workspace, notification_receiver)
    notification_receiver.fail("notify", 503, {"error": "down"}, times=2)
    run_destination_test(hook(receiver, key="bad", workspace=workspace, status=DestinationStatus.CONNECTED))
    notification = Notification.objects.get()

    assert notifications_deliver_due() == 0
    notification.refresh_from_db()
    assert (notification.state, notification.attempts, notification.last_status_code) == ("pending", 1, 503)
    first_wait = notification.next_attempt_at - notification.last_attempt_at
    assert timedelta(seconds=0.25) < first_wait < timedelta(seconds=0.4)
    assert notifications_deliver_due() == 0  # not due yet: nothing is sent
    assert len(notification_receiver.calls_to("notify")) == 1

    time.sleep(0.35)
    assert notifications_deliver_due() == 0
    notification.refresh_from_db()
    assert notification.attempts == 2
    second_wait = notification.next_attempt_at - notification.last_attempt_at
    assert timedelta(seconds=0.55) < second_wait < timedelta(seconds=0.7)  # the backoff grows

    time.sleep(0.65)
    assert notifications_deliver_due() == 1
    notification.refresh_from_db()
    assert (notification.state, notification.attempts, notification.last_error) == ("delivered", 3, "")
    assert len(notification_receiver.verified) == 1
    # Every retry carries the same webhook-id, so the receiver can de-duplicate.
    assert len({call.headers["Webhook-Id"] for call in notification_receiver.calls_to("notify")}) == 1


def test_retries_end_as_failed(settings, receiver, notification_receiver):
    settings.NOTIFICATION_RETRY_SECONDS = [0]
    workspace = WorkspaceFactory()
    subscribe(workspace, notification_receiver)
    notification_receiver.fail("notify", 500, {"error": "boom"})
    run_destination_test(hook(receiver, key="bad", workspace=workspace, status=DestinationStatus.CONNECTED))
    notifications_deliver_due()
    notifications_deliver_due(now=timezone.now() + timedelta(seconds=1))
    notification = Notification.objects.get()
    assert (notification.state, notification.attempts, notification.next_attempt_at) == ("failed", 2, None)
    assert notification.last_error == "The receiver answered HTTP 500."


def test_delivery_goes_through_the_ssrf_guard(settings, receiver, notification_receiver):
    workspace = WorkspaceFactory()
    subscribe(workspace, notification_receiver)
    run_destination_test(hook(receiver, key="bad", workspace=workspace, status=DestinationStatus.CONNECTED))
    settings.OUTBOUND_ALLOWED_NETWORKS = []  # production: loopback is not a public address
    assert notifications_deliver_due() == 0
    notification = Notification.objects.get()
    assert "internal address" in notification.last_error
    assert notification_receiver.calls == []


def test_the_signing_secret_is_encrypted_and_rotates(receiver, notification_receiver):
    workspace = WorkspaceFactory()
    first = subscribe(workspace, notification_receiver)
    assert first.startswith("whsec_")
    with connection.cursor() as cursor:
        cursor.execute("SELECT signing_secret FROM destinations_workspacemonitoring")
        [(stored,)] = cursor.fetchall()
    assert first not in stored and first.removeprefix("whsec_") not in stored

    second = signing_secret_rotate(workspace=workspace)
    assert second != first
    notification_receiver.secret = first  # a receiver still on the old secret rejects the delivery
    run_destination_test(hook(receiver, key="bad", workspace=workspace, status=DestinationStatus.CONNECTED))
    notifications_deliver_due()
    assert notification_receiver.rejected == 1
    notification_receiver.secret = second
    notifications_deliver_due(now=timezone.now() + timedelta(minutes=1))
    assert len(notification_receiver.verified) == 1


def test_notification_url_must_be_http():
    workspace = WorkspaceFactory()
    with pytest.raises(notifications.InvalidInput) as caught:
        workspace_monitoring_update(workspace=workspace, notification_url="ftp://example.com/x")
    assert "notification_url" in caught.value.errors


def test_api_key_is_not_in_the_log_of_notifications(receiver, notification_receiver):
    workspace = WorkspaceFactory()
    subscribe(workspace, notification_receiver)
    run_destination_test(hook(receiver, key="bad", workspace=workspace, status=DestinationStatus.CONNECTED))
    notification = Notification.objects.get()
    assert API_KEY not in str(notification.payload) and "bad" not in notification.payload["data"]["status_error"]
    assert notification.state == NotificationState.PENDING
