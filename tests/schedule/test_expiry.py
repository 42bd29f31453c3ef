"""Credential expiry: a test records when the credentials expire; a scheduled check sends one signed
`destination.expiring` notification per credential and threshold; a pinned API version near its sunset too."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from connectors.linkedin_ads import INTROSPECTION_DOC
from destinations.jobs.pool import run_destination_test
from destinations.models import Connection, Destination, Notification
from destinations.models import TestRunTrigger as Trigger
from destinations.services.notifications import notifications_deliver_due, workspace_monitoring_update
from tests.emulators import linkedin_ads
from tests.factories import ConnectionFactory, DestinationFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def linkedin(settings):
    with linkedin_ads.EMULATOR() as emulator:
        settings.CONNECTOR_BASE_URLS = {"linkedin_ads": emulator.url}
        yield emulator


def subscribed_workspace(receiver):
    workspace = WorkspaceFactory()
    _monitoring, secret = workspace_monitoring_update(
        workspace=workspace, notification_url=f"{receiver.url}/notifications"
    )
    receiver.secret = secret
    return workspace


def linkedin_destination(emulator, workspace, **kwargs):
    return DestinationFactory(
        workspace=workspace,
        destination_type="linkedin_ads",
        config={},
        secrets=linkedin_ads.valid_config(emulator),
        **kwargs,
    )


def test_a_token_expiring_in_10_days_is_notified_once_signed(linkedin, notification_receiver, settings):
    settings.EXPIRY_WARNING_DAYS = 14
    workspace = subscribed_workspace(notification_receiver)
    expires = int(time.time()) + 10 * 86400
    linkedin.tokens[linkedin_ads.ACCESS_TOKEN]["expires_at"] = expires
    destination = linkedin_destination(linkedin, workspace)

    first = run_destination_test(destination, trigger=Trigger.SCHEDULE)
    assert first.success is True
    destination.refresh_from_db()
    assert destination.credentials_expire_at == datetime.fromtimestamp(expires, UTC)
    assert notifications_deliver_due() == 1
    [delivery] = notification_receiver.verified  # the signature verified with the workspace's secret
    payload = delivery["payload"]
    assert payload["type"] == "destination.expiring"
    assert payload["data"]["credential"] == "access_token"
    assert payload["data"]["days_before"] == 14
    assert payload["data"]["expires_at"] == datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")
    assert payload["data"]["source"] == INTROSPECTION_DOC
    assert "Reconnect LinkedIn" in payload["data"]["remedy"]
    assert linkedin_ads.ACCESS_TOKEN.encode() not in notification_receiver.calls_to("notify")[0].body

    second = run_destination_test(Destination.objects.get(pk=destination.pk), trigger=Trigger.SCHEDULE)
    assert second.success is True
    assert Notification.objects.filter(event_type="destination.expiring").count() == 1  # none on the next check


def test_a_manual_test_records_the_expiry_but_warns_no_one(linkedin, notification_receiver):
    workspace = subscribed_workspace(notification_receiver)
    linkedin.tokens[linkedin_ads.ACCESS_TOKEN]["expires_at"] = int(time.time()) + 3 * 86400
    destination = linkedin_destination(linkedin, workspace)
    run_destination_test(destination, trigger=Trigger.CLI)
    destination.refresh_from_db()
    assert destination.credentials_expire_at is not None
    assert not Notification.objects.exists()


def test_a_stored_oauth_lifetime_counts_for_the_destination_and_its_connection(linkedin, notification_receiver):
    workspace = subscribed_workspace(notification_receiver)
    linkedin.tokens[linkedin_ads.ACCESS_TOKEN]["expires_at"] = int(time.time()) + 50 * 86400
    refresh_dies = timezone.now().replace(microsecond=0) + timedelta(days=9)
    connection = ConnectionFactory(
        workspace=workspace,
        destination_type="linkedin_ads",
        credentials={
            "client_id": linkedin_ads.CLIENT_ID,
            "client_secret": linkedin_ads.CLIENT_SECRET,
            "access_token": linkedin_ads.ACCESS_TOKEN,
            "refresh_token": linkedin_ads.REFRESH_TOKEN,
        },
        refresh_token_expires_at=refresh_dies,
    )
    destination = DestinationFactory(
        workspace=workspace,
        destination_type="linkedin_ads",
        connection=connection,
        config={"ad_account_id": linkedin_ads.AD_ACCOUNT_ID, "segment_id": linkedin_ads.SEGMENT_ID},
        secrets={},
    )
    assert run_destination_test(destination, trigger=Trigger.SCHEDULE).success is True
    assert Connection.objects.get(pk=connection.pk).credentials_expire_at == refresh_dies
    [notification] = Notification.objects.filter(event_type="destination.expiring")
    assert notification.payload["data"]["credential"] == "refresh_token"


def test_a_pinned_api_version_near_its_sunset_is_warned_once(receiver, notification_receiver, monkeypatch):
    from connectors.webhook import WebhookConnector

    workspace = subscribed_workspace(notification_receiver)
    monkeypatch.setattr(WebhookConnector, "default_api_version", "v1")
    monkeypatch.setattr(WebhookConnector, "api_version_sunset", date.today() + timedelta(days=60))
    monkeypatch.setattr(WebhookConnector, "api_version_doc", "https://hooks.example.com/versions")
    destination = DestinationFactory(
        workspace=workspace, config={"url": f"{receiver.url}/hooks/in"}, secrets={"headers": {"X-API-Key": "k-good"}}
    )
    for _ in range(2):
        run_destination_test(Destination.objects.get(pk=destination.pk), trigger=Trigger.SCHEDULE)
    [notification] = Notification.objects.filter(event_type="destination.expiring")
    data = notification.payload["data"]
    assert data["credential"] == "api_version v1" and data["days_before"] == 90
    assert data["source"] == "https://hooks.example.com/versions"
