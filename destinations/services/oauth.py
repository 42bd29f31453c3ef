"""Connect with OAuth: authorise and the callback (the apps are in `oauth_apps`, renewal in `oauth_tokens`).

`oauth_authorize` records a single-use OAuthState row (workspace, user, PKCE verifier, where to return) and
answers the vendor's authorisation URL with a signed `state` naming that row. `oauth_callback` checks the
signature (10-minute max age), consumes the row atomically, trades the code at the vendor's token endpoint
through the guarded client, checks the granted scopes and saves the tokens encrypted in a connection (new, or
the one being re-authorised, whose destinations go back to `pending`). `connection_token_refresh` renews the
access token; a refresh saves only if no one saved newer tokens meanwhile (compare-and-swap on
`token_version`), and a revoked grant puts every destination of the connection in `error` (token_expired).
Tokens never leave through a return value meant for a response, a log line or a redirect URL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from connectors.runtime.errors import ConnectorError
from connectors.runtime.http import OutboundClient
from connectors.runtime.oauth import (
    OAuthError,
    pkce_pair,
    redirect_error_code,
)
from workspaces.models import Membership

from ..config import connector_class_for, outbound_policy
from ..errors import InvalidInput
from ..models import AuditAction, AuditVia, Connection, Destination, DestinationStatus, OAuthState
from .audit import audit_record
from .connections import resolve_connection
from .oauth_apps import oauth_app_for, oauth_provider, redirect_uri_allowed

logger = logging.getLogger(__name__)

STATE_SALT = "destinations.oauth.state"
STATE_TTL = timedelta(minutes=10)


@dataclass
class CallbackOutcome:
    """Where the browser goes next (None: nowhere trustworthy) and our error code, if any."""

    redirect_url: str | None
    error: str = ""


# --- authorise ------------------------------------------------------------------------------------------


def oauth_authorize(
    *,
    workspace,
    actor,
    destination_type: str,
    redirect_uri: str,
    callback_uri: str,
    name: str | None = None,
    connection_id=None,
    login_url: str | None = None,
    scopes: list[str] | None = None,
    trusted_redirect: bool = False,
) -> dict:
    """Start an authorisation; `trusted_redirect` is for the admin's own landing page (not user-supplied)."""
    provider = oauth_provider(destination_type, field_name="type")
    connection = resolve_connection(workspace=workspace, connection_id=connection_id, destination_type=destination_type)
    if connection is None and not name:
        raise InvalidInput({"name": ["Required unless connection_id names the connection to re-authorise."]})
    if not trusted_redirect and not redirect_uri_allowed(redirect_uri):
        raise InvalidInput(
            {"redirect_uri": ["Not an allowed redirect URI (OAUTH_REDIRECT_ALLOWED lists the allowed ones)."]}
        )
    requested = list(dict.fromkeys(scopes or provider.default_scopes))
    missing = provider.missing_scopes(requested)
    if missing:
        raise InvalidInput({"scopes": [f"Must include {', '.join(missing)}: {destination_type} destinations need it."]})
    if login_url and provider.login is None:
        raise InvalidInput(
            {"login_url": [f"{destination_type} has one login server; leave login_url out for this type."]}
        )
    base_url = settings.CONNECTOR_BASE_URLS.get(destination_type)
    login_base = None
    if provider.login is not None:
        stored_login = connection.credentials.get("login_url") if connection else None
        try:
            login_base = provider.login.base(login_url or stored_login, base_url)
        except ValueError as exc:
            raise InvalidInput({"login_url": [str(exc)]}) from None
    app = oauth_app_for(workspace=workspace, destination_type=destination_type)
    authorize_url, _token_url = provider.endpoints(base_url=base_url, login_url=login_base)
    verifier, challenge = pkce_pair() if provider.pkce else (None, None)
    now = timezone.now()
    OAuthState.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()  # abandoned authorisations
    row = OAuthState.objects.create(
        workspace=workspace,
        user=actor,
        destination_type=destination_type,
        connection=connection,
        name=name or "",
        redirect_uri=redirect_uri,
        callback_uri=callback_uri,
        scopes=requested,
        secrets={"code_verifier": verifier, "login_url": login_base, "admin": trusted_redirect},
        expires_at=now + STATE_TTL,
    )
    state = signing.dumps({"s": row.pk.hex, "w": workspace.pk.hex, "u": actor.pk.hex}, salt=STATE_SALT)
    url = provider.authorization_url(
        authorize_url=authorize_url,
        app=app,
        redirect_uri=callback_uri,
        state=state,
        scopes=requested,
        code_challenge=challenge,
    )
    return {
        "authorization_url": url,
        "state_expires_at": row.expires_at,
        "destination_type": destination_type,
        "connection_id": str(connection.pk) if connection else None,
        "scopes": requested,
        "pkce": provider.pkce,
        "callback_uri": callback_uri,
    }


# --- the callback ---------------------------------------------------------------------------------------


def _with_params(url: str, params: dict) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *((k, v) for k, v in params.items() if v)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _outcome(row: OAuthState, *, error: str = "", connection=None, missing=()) -> CallbackOutcome:
    params = {"error": error, "missing_scopes": " ".join(missing)}
    if connection is not None:
        params["connection_id"] = str(connection.pk)
    elif row.connection_id:
        params["connection_id"] = str(row.connection_id)
    return CallbackOutcome(_with_params(row.redirect_uri, params), error=error)


def _state_row(state: str) -> tuple[OAuthState | None, bool]:
    """(row, expired) for a signed state; (None, False) when it is forged or names no row."""
    expired = False
    try:
        payload = signing.loads(state, salt=STATE_SALT, max_age=STATE_TTL)
    except signing.SignatureExpired:
        expired = True
        payload = signing.loads(state, salt=STATE_SALT)
    except signing.BadSignature:
        return None, False
    row = OAuthState.objects.filter(pk=payload.get("s"), workspace_id=payload.get("w"), user_id=payload.get("u"))
    return row.first(), expired


def _starter_may_still(row: OAuthState) -> bool:
    """Whether the user who started may still do what finishing does: a role can change, or a member leave,
    in the minutes between the start and the vendor's redirect. From the API: an admin or editor of the
    workspace; from the admin: a staff user with the permission the start page checked."""
    user = row.user
    if not user.is_active:
        return False
    if row.secrets.get("admin"):
        permission = "change_connection" if row.connection_id else "add_connection"
        return user.is_staff and user.has_perm(f"destinations.{permission}")
    membership = Membership.objects.filter(workspace_id=row.workspace_id, user_id=row.user_id).first()
    return membership is not None and membership.can_write


def oauth_callback(*, params: dict, session_user=None) -> CallbackOutcome:
    """Finish an authorisation from the vendor's redirect query; never raises for what the vendor or user did."""
    row, expired = _state_row(str(params.get("state") or ""))
    if row is None or (session_user is not None and session_user.pk != row.user_id):
        return CallbackOutcome(None, error="invalid_state")
    now = timezone.now()
    if not OAuthState.objects.filter(pk=row.pk, consumed_at__isnull=True).update(consumed_at=now):
        return _outcome(row, error="state_replayed")
    if expired or row.expires_at <= now:
        return _outcome(row, error="state_expired")
    if not _starter_may_still(row):
        return _outcome(row, error="permission_denied")
    if params.get("error"):
        return _outcome(row, error=redirect_error_code(str(params["error"])))
    if not params.get("code"):
        return _outcome(row, error="invalid_request")
    provider = oauth_provider(row.destination_type)
    try:
        app = oauth_app_for(workspace=row.workspace, destination_type=row.destination_type)
    except InvalidInput:
        return _outcome(row, error="app_not_configured")
    base_url = settings.CONNECTOR_BASE_URLS.get(row.destination_type)
    _authorize_url, token_url = provider.endpoints(base_url=base_url, login_url=row.secrets.get("login_url"))
    client = OutboundClient(outbound_policy())
    try:
        grant = provider.exchange_code(
            client,
            token_url=token_url,
            app=app,
            code=str(params["code"]),
            redirect_uri=row.callback_uri,
            code_verifier=row.secrets.get("code_verifier"),
            requested_scopes=row.scopes,
        )
    except OAuthError as exc:
        logger.info("oauth %s code exchange refused: %s", row.destination_type, exc.message)  # redacted
        passed_on = exc.code if exc.code in ("invalid_grant", "redirect_uri_mismatch", "invalid_client") else ""
        return _outcome(row, error=passed_on or "token_exchange_failed")
    except ConnectorError as exc:
        logger.info("oauth %s token endpoint unreachable: %s", row.destination_type, exc.message)  # redacted
        return _outcome(row, error="vendor_unreachable")
    finally:
        client.close()
    missing = provider.missing_scopes(grant.scopes)
    if missing:
        return _outcome(row, error="missing_scopes", missing=missing)
    if not provider.instance_allowed(str(grant.facts.get("instance_url", "")), base_url):
        return _outcome(row, error="invalid_instance")
    credentials = provider.to_credentials(grant, app, {"login_url": row.secrets.get("login_url")})
    if connector_class_for(row.destination_type).validate_config(credentials, partial=True):
        return _outcome(row, error="invalid_credentials")  # the vendor's answer does not fit the type's schema
    connection = _save_grant(row, grant, credentials, now=now)
    audit_record(
        workspace=connection.workspace,
        actor=row.user,
        via=AuditVia.ADMIN if row.secrets.get("admin") else AuditVia.API,
        action=AuditAction.REAUTHORIZE if row.connection_id else AuditAction.CREATE,
        target=connection,
        secret_fields=[
            f"credentials.{k}" for k in credentials if k in ("access_token", "refresh_token", "client_secret")
        ],
    )
    return _outcome(row, connection=connection)


@transaction.atomic
def _save_grant(row: OAuthState, grant, credentials: dict, *, now) -> Connection:
    lifecycle = {
        "authorized_by_id": row.user_id,
        "authorized_at": now,
        "scopes": grant.scopes,
        "expires_at": grant.expires_at,
        "refresh_token_expires_at": grant.refresh_token_expires_at,
        "authorized_account": {k: v for k, v in grant.facts.items() if k != "instance_url"},
        "last_refreshed_at": None,
        "last_refresh_error": "",
    }
    if row.connection_id is None:
        return Connection.objects.create(
            workspace_id=row.workspace_id,
            name=row.name,
            destination_type=row.destination_type,
            credentials=credentials,
            created_by_id=row.user_id,
            **lifecycle,
        )
    connection = Connection.objects.select_for_update().get(pk=row.connection_id, workspace_id=row.workspace_id)
    Connection.objects.filter(pk=connection.pk).update(
        credentials={**connection.credentials, **credentials},
        token_version=F("token_version") + 1,
        updated_at=now,
        **lifecycle,
    )
    # Re-authorised: every destination of the connection is to be tested again; nothing else of them changes.
    Destination.objects.filter(connection_id=connection.pk).update(status=DestinationStatus.PENDING, status_error="")
    connection.refresh_from_db()
    return connection
