"""Status-change notifications: a signed POST to the workspace's notification URL, retried with backoff.

Each notification is a stored row (the admin's notification log) delivered by `notifications_deliver_due`,
which the scheduler tick calls in both runtimes. Requests go through the connectors' SSRF-guarded client
with the project's outbound policy, and are signed per the Standard Webhooks spec with the `standardwebhooks`
package: `webhook-id` (the same on every retry), `webhook-timestamp` and `webhook-signature`.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from standardwebhooks import Webhook

from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundClient

from ..config import outbound_policy
from ..errors import InvalidInput
from ..models import Notification, NotificationState, WorkspaceMonitoring
from ..representation import iso_z

logger = logging.getLogger(__name__)

STATUS_CHANGED = "destination.status_changed"
EXPIRING = "destination.expiring"
# A delivery in progress holds its row this long, so a second scheduler never sends it twice at once.
DELIVERY_LEASE = timedelta(minutes=2)
_UNSET = object()


def signing_secret_generate() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def notification_url_validate(url: str) -> str:
    url = (url or "").strip()
    if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname):
        raise InvalidInput({"notification_url": ["Must be an http(s) URL with a host."]})
    return url


@transaction.atomic
def workspace_monitoring_update(
    *, workspace, check_interval_minutes=_UNSET, notification_url=_UNSET
) -> tuple[WorkspaceMonitoring, str | None]:
    """Change a workspace's interval or notification URL. Returns the settings and, when a signing secret
    was created now (the first URL), its plaintext: the one time it is shown."""
    monitoring, _ = WorkspaceMonitoring.objects.select_for_update().get_or_create(workspace=workspace)
    if check_interval_minutes is not _UNSET:
        monitoring.check_interval_minutes = check_interval_minutes
    if notification_url is not _UNSET:
        monitoring.notification_url = notification_url_validate(notification_url)
    created_secret = None
    if monitoring.notification_url and not monitoring.signing_secret.get("secret"):
        created_secret = signing_secret_generate()
        monitoring.signing_secret = {"secret": created_secret}
        monitoring.secret_rotated_at = timezone.now()
    monitoring.save()
    return monitoring, created_secret


@transaction.atomic
def signing_secret_rotate(*, workspace) -> str:
    """A new signing secret for the workspace; the plaintext is returned here once and never shown again."""
    monitoring, _ = WorkspaceMonitoring.objects.select_for_update().get_or_create(workspace=workspace)
    plaintext = signing_secret_generate()
    monitoring.signing_secret = {"secret": plaintext}
    monitoring.secret_rotated_at = timezone.now()
    monitoring.save(update_fields=["signing_secret", "secret_rotated_at", "updated_at"])
    return plaintext


def status_change_enqueue(
    *, workspace_id, destination: dict, previous: str, current: str, status_error: str, test_run=None
) -> Notification | None:
    """Record a `destination.status_changed` event when the workspace has a notification URL."""
    data = {
        "previous_status": previous,
        "status": current,
        "status_error": status_error,
        "test_run_id": str(test_run.pk) if test_run is not None else None,
        "trigger": test_run.trigger if test_run is not None else None,
    }
    return _enqueue(
        workspace_id=workspace_id, destination=destination, event_type=STATUS_CHANGED, data=data, test_run=test_run
    )


def expiring_enqueue(
    *, workspace_id, destination: dict, expiry: dict, days_before: int, test_run=None
) -> Notification | None:
    """Record a `destination.expiring` event once per destination, credential, expiry moment and threshold;
    None when the workspace has no notification URL or this warning was already sent."""
    data = {
        "credential": expiry["credential"],
        "expires_at": expiry["expires_at"],
        "days_before": days_before,
        "source": expiry["source"],
        "remedy": expiry["remedy"],
        "test_run_id": str(test_run.pk) if test_run is not None else None,
    }
    return _enqueue(
        workspace_id=workspace_id,
        destination=destination,
        event_type=EXPIRING,
        data=data,
        test_run=test_run,
        dedupe_key=f"expiring:{destination['id']}:{expiry['credential']}:{expiry['expires_at']}:{days_before}",
    )


def _enqueue(
    *, workspace_id, destination: dict, event_type: str, data: dict, test_run, dedupe_key: str = ""
) -> Notification | None:
    """One event's envelope and its row, due now; None when the workspace has no notification URL or an event
    with the same `dedupe_key` was already recorded (here, or by another process meanwhile)."""
    monitoring = WorkspaceMonitoring.objects.filter(workspace_id=workspace_id).first()
    if monitoring is None or not monitoring.notification_url:
        return None
    if dedupe_key and Notification.objects.filter(workspace_id=workspace_id, dedupe_key=dedupe_key).exists():
        return None
    now = timezone.now()
    payload = {
        "type": event_type,
        "timestamp": iso_z(now),
        "data": {
            "workspace_id": str(workspace_id),
            "destination": {
                "id": str(destination["id"]),
                "name": destination["name"],
                "destination_type": destination["destination_type"],
            },
            **data,
        },
    }
    row = Notification(
        workspace_id=workspace_id,
        destination_id=destination["id"],
        test_run=test_run,
        event_type=event_type,
        payload=payload,
        url=monitoring.notification_url,
        next_attempt_at=now,
        dedupe_key=dedupe_key,
    )
    if not dedupe_key:
        row.save(force_insert=True)
        return row
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:  # another check recorded the same event meanwhile
        return None
    return row


def notifications_deliver_due(*, now: datetime | None = None, limit: int = 50) -> int:
    """Attempt every pending notification whose time has come; returns how many were delivered."""
    now = now or timezone.now()
    due = (
        Notification.objects.filter(state=NotificationState.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", "next_attempt_at")[:limit]
    )
    return sum(notification_deliver(pk, expected_next=next_at) for pk, next_at in list(due))


def notification_deliver(notification_id, *, expected_next: datetime) -> bool:
    """One delivery attempt, claimed first (a conditional update) so no two processes send it at once."""
    now = timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, state=NotificationState.PENDING, next_attempt_at=expected_next
    ).update(next_attempt_at=now + DELIVERY_LEASE)
    if not claimed:
        return False
    notification = Notification.objects.get(pk=notification_id)
    monitoring = WorkspaceMonitoring.objects.filter(workspace_id=notification.workspace_id).first()
    secret = (monitoring.signing_secret if monitoring else {}).get("secret")
    status_code, error = None, ""
    if not secret:
        error = "The workspace has no signing secret."
    else:
        status_code, error = _post(notification, secret)
    delivered = status_code is not None and 200 <= status_code < 300
    _record_attempt(notification, status_code=status_code, error=error, delivered=delivered)
    return delivered


def _post(notification: Notification, secret: str) -> tuple[int | None, str]:
    body = json.dumps(notification.payload, separators=(",", ":"), sort_keys=True)
    sent_at = datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": notification.webhook_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(notification.webhook_id, sent_at, body),
    }
    client = OutboundClient(outbound_policy())
    client.read_timeout = settings.NOTIFICATION_TIMEOUT_SECONDS
    try:
        # A redirect is not a delivery: the receiver answers at the URL it was given.
        response = client.post(notification.url, data=body.encode(), headers=headers, allow_redirects=False)
    except ConnectorError as exc:
        return None, exc.message[:500]
    finally:
        client.close()
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"The receiver answered HTTP {response.status_code}."


def _record_attempt(notification: Notification, *, status_code: int | None, error: str, delivered: bool) -> None:
    now = timezone.now()
    attempts = notification.attempts + 1
    fields = {"attempts": attempts, "last_attempt_at": now, "last_status_code": status_code, "last_error": error}
    schedule = settings.NOTIFICATION_RETRY_SECONDS
    if delivered:
        fields.update(state=NotificationState.DELIVERED, delivered_at=now, next_attempt_at=None)
    elif attempts <= len(schedule):
        fields.update(next_attempt_at=now + timedelta(seconds=schedule[attempts - 1]))
    else:
        fields.update(state=NotificationState.FAILED, next_attempt_at=None)
        logger.warning("notification %s not delivered after %d attempts: %s", notification.pk, attempts, error)
    Notification.objects.filter(pk=notification.pk).update(**fields)
