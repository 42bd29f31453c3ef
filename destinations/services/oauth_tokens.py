"""The token lifecycle of an OAuth connection: renewal before use, compare-and-swap saves, revoked grants.

A refresh saves only if no one saved newer tokens meanwhile (`token_version`), and a revoked grant puts every
destination of the connection in `error` (token_expired)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connectors.runtime.errors import ConnectorError, ErrorCode
from connectors.runtime.http import OutboundClient
from connectors.runtime.oauth import (
    OAuthApp,
    OAuthError,
    OAuthProvider,
)
from connectors.runtime.registry import provider_for

from ..config import outbound_policy
from ..errors import InvalidInput, VendorFailure
from ..models import Connection, Destination, DestinationStatus

logger = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)  # a token expiring sooner than this is renewed before it is used
TOKEN_EXPIRED_PREFIX = "token_expired: "


def _is_oauth(connection: Connection) -> bool:
    return connection.authorized_at is not None and provider_for(connection.destination_type) is not None


def connection_token_refresh(*, connection: Connection) -> Connection:
    """Renew the access token now. Raises VendorFailure (token_expired when the grant is gone).

    Refreshes of one connection are serialised on its row (SELECT … FOR UPDATE; SQLite's write lock): a worker
    that waited while another renewed the tokens (token_version moved past what it had read) uses those,
    instead of spending a refresh token the vendor may just have rotated away and mistaking that for a
    revocation. The save is also a compare-and-swap on token_version, against writers that do not lock.
    """
    if not _is_oauth(connection):
        raise InvalidInput({"connection_id": ["This connection was not authorised with OAuth."]})
    provider = provider_for(connection.destination_type)
    base_url = settings.CONNECTOR_BASE_URLS.get(connection.destination_type)
    failure = None
    client = OutboundClient(outbound_policy())
    try:
        with transaction.atomic():
            current = Connection.objects.select_for_update().get(pk=connection.pk)
            if current.token_version != connection.token_version:
                return current
            credentials = current.credentials
            if not credentials.get("refresh_token"):
                failure = ConnectorError(
                    ErrorCode.TOKEN_EXPIRED,
                    f"{provider.vendor} issued no refresh token for this connection.",
                    remediation="Re-authorise the connection when its access token expires.",
                )
            else:
                try:
                    _authorize, token_url = provider.endpoints(
                        base_url=base_url, login_url=credentials.get("login_url")
                    )
                    grant = provider.refresh(
                        client,
                        token_url=token_url,
                        app=OAuthApp(credentials.get("client_id", ""), credentials.get("client_secret", "")),
                        refresh_token=credentials["refresh_token"],
                        scopes=current.scopes,
                    )
                except (OAuthError, ConnectorError, ValueError) as exc:
                    failure = _refresh_failed(current, provider, exc)
                else:
                    _save_refresh(current, grant)
    finally:
        client.close()
    if failure is not None:
        raise VendorFailure(failure)
    return Connection.objects.get(pk=connection.pk)


def _save_refresh(current: Connection, grant) -> None:
    renewed = dict(current.credentials)
    if "access_token" in renewed:
        renewed["access_token"] = grant.access_token
    if grant.refresh_token:
        renewed["refresh_token"] = grant.refresh_token  # a rotated one replaces the old, which no longer works
    saved = Connection.objects.filter(pk=current.pk, token_version=current.token_version).update(
        credentials=renewed,
        token_version=current.token_version + 1,
        expires_at=grant.expires_at,
        # LinkedIn answers the remaining lifetime again; most vendors say nothing (the old date stands)
        refresh_token_expires_at=grant.refresh_token_expires_at or current.refresh_token_expires_at,
        credentials_expire_at=grant.refresh_token_expires_at or current.credentials_expire_at,
        scopes=grant.scopes or current.scopes,
        last_refreshed_at=timezone.now(),
        last_refresh_error="",
    )
    if not saved:
        logger.info("oauth refresh of connection %s lost to a newer save; keeping the newer tokens", current.pk)


def _refresh_failed(current: Connection, provider: OAuthProvider, exc: Exception) -> ConnectorError:
    """Record why a refresh failed; a revoked grant (invalid_grant) puts every destination in error."""
    code = getattr(exc, "code", "")
    if code == "invalid_grant":
        error = ConnectorError(
            ErrorCode.TOKEN_EXPIRED,
            f"{provider.vendor} refused the refresh token (invalid_grant): the authorisation was revoked or expired.",
            remediation="Re-authorise the connection (Connect again with connection_id, or Re-authorise in the admin).",
        )
        Connection.objects.filter(pk=current.pk).update(last_refresh_error=f"invalid_grant: {error.message}")
        Destination.objects.filter(connection_id=current.pk).update(
            status=DestinationStatus.ERROR,
            status_error=f"{TOKEN_EXPIRED_PREFIX}{error.message} Remediation: re-authorise the connection.",
        )
        return error
    if isinstance(exc, ConnectorError):
        Connection.objects.filter(pk=current.pk).update(last_refresh_error=f"{exc.code}: {exc.message}")
        return exc
    message = getattr(exc, "message", str(exc))
    Connection.objects.filter(pk=current.pk).update(last_refresh_error=f"{code or 'error'}: {message}")
    return ConnectorError(ErrorCode.VENDOR_ERROR, message)


def connection_refresh_if_due(connection: Connection | None) -> bool:
    """Before a test or a field fetch: renew an OAuth connection's access token if it is (nearly) expired.

    True when `connection` now holds renewed credentials. A failure is recorded (and a revoked grant flips the
    destinations) but not raised: the run reports it.
    """
    if connection is None or not _is_oauth(connection) or not connection.credentials.get("refresh_token"):
        return False
    if connection.expires_at is not None and connection.expires_at - timezone.now() > REFRESH_MARGIN:
        return False
    try:
        fresh = connection_token_refresh(connection=connection)
    except VendorFailure:
        fresh = Connection.objects.get(pk=connection.pk)
    refreshed = fresh.credentials != connection.credentials
    connection.credentials = fresh.credentials
    connection.token_version = fresh.token_version
    connection.expires_at = fresh.expires_at
    return refreshed
