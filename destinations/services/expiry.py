"""When credentials stop working: what a test's steps reported (and a stored OAuth lifetime), kept on the
destination and its connection, and the `destination.expiring` warning a scheduled check sends, once per
credential and threshold, EXPIRY_WARNING_DAYS before; a pinned API version gets it within 90 days of its sunset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from connectors.runtime.base import earliest_expiry
from connectors.runtime.registry import UnknownConnectorType, connector_classes, get_connector_class

from ..checks import SUNSET_WARNING
from ..models import Connection, Destination
from ..representation import iso_z
from .notifications import expiring_enqueue

OAUTH_LIFETIME_SOURCE = "the refresh_token_expires_in of the vendor's token answer, stored when OAuth connected"


def _z(moment: datetime) -> str:
    return iso_z(moment.astimezone(UTC))


def stored_lifetimes(connection: Connection | None) -> list[dict]:
    """The refresh-token lifetime an OAuth flow stored on the connection, as a step would report it."""
    if connection is None or connection.refresh_token_expires_at is None:
        return []
    remedy = f"Connect {connection.destination_type} again with OAuth (the connection '{connection.name}') before then."
    return [
        {
            "credential": "refresh_token",
            "expires_at": _z(connection.refresh_token_expires_at),
            "source": OAUTH_LIFETIME_SOURCE,
            "remedy": remedy,
        }
    ]


def credentials_expiry_record(*, destination: Destination, steps: list[dict], success: bool) -> dict:
    """What this test learned about expiry, as the destination's fields to save with its status (the caller's
    one update); the connection's is saved here. A failed test that learned nothing keeps the earlier answer."""
    reported = [
        entry
        for step in steps
        for entry in (step.get("details") or {}).get("expires") or []
        if isinstance(entry, dict) and entry.get("expires_at")
    ]
    if not reported and not success:
        return {}
    entries = sorted(reported + stored_lifetimes(destination.connection), key=lambda entry: entry["expires_at"])
    earliest = earliest_expiry([{"details": {"expires": entries}}])
    destination.credential_expiries, destination.credentials_expire_at = entries, earliest
    if destination.connection_id is not None and destination.connection.credentials_expire_at != earliest:
        Connection.objects.filter(pk=destination.connection_id).update(credentials_expire_at=earliest)
    return {"credential_expiries": entries, "credentials_expire_at": earliest}


def api_version_sunset(destination: Destination, today: date) -> dict | None:
    """The destination's API version as an expiring credential when the vendor retires it within 90 days."""
    try:
        connector = get_connector_class(destination.destination_type)
    except UnknownConnectorType:
        return None
    version = (destination.config or {}).get("api_version") or connector.default_api_version
    sunset = connector.api_version_sunset
    if sunset is None or version != connector.default_api_version or today < sunset - SUNSET_WARNING:
        return None
    return {
        "credential": f"api_version {version}",
        "expires_at": _z(datetime.combine(sunset, time(), UTC)),
        "source": connector.api_version_doc,
        "remedy": f"Move this destination to a current {connector.label} API version ({connector.api_version_doc}).",
    }


def expiring_soon(*, now: datetime | None = None, limit: int = 50) -> list[dict]:
    """What the admin's dashboard lists: each credential expiring within EXPIRY_WARNING_DAYS (or expired), and
    each destination on an API version retired within 90 days; soonest first, at most `limit` destinations of
    each kind, so the page stays bounded at fleet size."""
    now = now or timezone.now()
    horizon = now + timedelta(days=settings.EXPIRY_WARNING_DAYS)
    rows = []
    soon = (
        Destination.objects.filter(credentials_expire_at__lte=horizon)
        .select_related("workspace")
        .order_by("credentials_expire_at")[:limit]
    )
    for destination in soon:
        for entry in destination.credential_expiries or []:
            moment = datetime.fromisoformat(entry["expires_at"])
            if moment <= horizon:
                rows.append({"destination": destination, "at": moment, "expired": moment <= now, **entry})
    retiring = [
        connector.type
        for connector in connector_classes().values()
        if connector.api_version_sunset is not None and now.date() >= connector.api_version_sunset - SUNSET_WARNING
    ]
    on_retiring = Destination.objects.filter(destination_type__in=retiring).select_related("workspace")
    for destination in on_retiring.order_by("created_at")[:limit]:
        sunset = api_version_sunset(destination, now.date())
        if sunset is not None:
            moment = datetime.fromisoformat(sunset["expires_at"])
            rows.append({"destination": destination, "at": moment, "expired": moment <= now, **sunset})
    return sorted(rows, key=lambda row: (row["at"], row["destination"].name))


def expiry_warnings_enqueue(*, destination: Destination, test_run=None, now: datetime | None = None) -> list:
    """The warnings due now for this destination, each sent once (notifications.expiring_enqueue)."""
    now = now or timezone.now()
    due: list[tuple[dict, int]] = []
    days = settings.EXPIRY_WARNING_DAYS
    if days > 0:
        horizon = now + timedelta(days=days)
        for entry in destination.credential_expiries or []:
            if now < datetime.fromisoformat(entry["expires_at"]) <= horizon:
                due.append((entry, days))
    sunset = api_version_sunset(destination, now.date())
    if sunset is not None:
        due.append((sunset, SUNSET_WARNING.days))
    row = {"id": destination.pk, "name": destination.name, "destination_type": destination.destination_type}
    sent = []
    for entry, days_before in due:
        notification = expiring_enqueue(
            workspace_id=destination.workspace_id,
            destination=row,
            expiry=entry,
            days_before=days_before,
            test_run=test_run,
        )
        if notification is not None:
            sent.append(notification)
    return sent
