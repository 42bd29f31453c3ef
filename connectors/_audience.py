"""Helpers shared by the ad-platform audience connectors (google_ads, facebook_ads, linkedin_ads, the_trade_desk).

They all reach a fixed vendor host (redirected by CONNECTOR_BASE_URLS), some exchange an OAuth refresh token,
all read JSON error bodies that may echo request parts, and all describe a fixed identifier schema.
"""

from __future__ import annotations

from collections.abc import Iterable

import requests

from .base import Connector, DestinationField, redact_text
from .errors import ConnectorError, ErrorCode
from .http import error_for_status

SHA256_HEX = "then SHA-256, sent as 64 lowercase hex characters"


def body_json(response: requests.Response) -> dict:
    """The response's JSON object, or {} when the body is empty, not JSON or not an object."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def oauth_error(response: requests.Response, vendor: str, *, reconnect: str, secrets=()) -> ConnectorError:
    """An OAuth 2.0 token-endpoint error body (RFC 6749 §5.2) as a ConnectorError."""
    body = body_json(response)
    error = str(body.get("error") or "")
    description = redact_text(body.get("error_description"), list(secrets))
    lowered = description.lower()
    code, remediation = None, ""
    if error in ("invalid_grant", "invalid_request") and ("expired" in lowered or "revoked" in lowered):
        code, remediation = ErrorCode.TOKEN_EXPIRED, reconnect
    elif error == "invalid_grant":
        code, remediation = ErrorCode.AUTH_INVALID, reconnect
    elif error in ("invalid_client", "unauthorized_client"):
        code = ErrorCode.AUTH_INVALID
        remediation = (
            "Check the client ID and client secret; the refresh token must have been issued to this same OAuth client."
        )
    elif error == "invalid_scope":
        code, remediation = ErrorCode.INSUFFICIENT_PERMISSIONS, reconnect
    elif error == "invalid_request":
        code = ErrorCode.INVALID_CONFIG
    return error_for_status(
        response, vendor, vendor_message=description, vendor_code=error or None, code=code, remediation=remediation
    )


def refresh_access_token(
    connector: Connector,
    vendor: str,
    token_url: str,
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    reconnect: str,
) -> dict:
    """POST grant_type=refresh_token to the vendor's token endpoint; the token response on success."""
    response = connector.http.post(
        connector.vendor_url(token_url),
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        },
        headers={"Accept": "application/json"},
    )
    body = body_json(response)
    if response.status_code == 200 and body.get("access_token"):
        return body
    if response.status_code == 200:
        raise ConnectorError(ErrorCode.VENDOR_ERROR, f"{vendor} answered the token request without an access token.")
    raise oauth_error(response, vendor, reconnect=reconnect, secrets=(client_secret, refresh_token))


def api_error(
    response: requests.Response,
    vendor: str,
    what: str,
    *,
    message: str,
    vendor_code: str | None = None,
    code: ErrorCode | None = None,
    remediation: str = "",
) -> ConnectorError:
    """error_for_status, saying which check the vendor refused (the same status means different things per call)."""
    error = error_for_status(
        response, vendor, vendor_message=message, vendor_code=vendor_code, code=code, remediation=remediation
    )
    error.message = f"{error.message} (while checking {what})"
    return error


def missing_scopes(granted: Iterable[str], required: Iterable[str]) -> list[str]:
    have = {scope.strip() for scope in granted if scope.strip()}
    return [scope for scope in required if scope not in have]


def identifier_field(
    name: str,
    label: str,
    description: str,
    *,
    must_hash: bool,
    identifier: bool = True,
    type: str = "string",
) -> DestinationField:
    """An audience-member key: members are added or removed, never updated in place."""
    return DestinationField(
        name=name,
        label=label,
        type=type,
        required=False,
        identifier=identifier,
        createable=True,
        updateable=False,
        must_hash=must_hash,
        description=description,
    )
