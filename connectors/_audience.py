"""Helpers shared by the ad-platform audience connectors (google_ads, facebook_ads, linkedin_ads, the_trade_desk).

They all reach a fixed vendor host (redirected by CONNECTOR_BASE_URLS), some exchange an OAuth refresh token
(its errors mapped by one table), and all describe a fixed identifier schema.
"""

from __future__ import annotations

from collections.abc import Iterable

from .runtime.base import Connector, DestinationField, IdentifierKind
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.vendor import ErrorTable, Rule, read_json

SHA256_HEX = "then SHA-256, sent as 64 lowercase hex characters"


def oauth_errors(vendor: str, *, reconnect: str) -> ErrorTable:
    """The table for an OAuth 2.0 token endpoint's error body (RFC 6749 §5.2: `error`, `error_description`)."""
    stale = ("invalid_grant", "invalid_request")
    return ErrorTable(
        vendor,
        rules=(
            Rule(ErrorCode.TOKEN_EXPIRED, reconnect, vendor_code=stale, message="expired"),
            Rule(ErrorCode.TOKEN_EXPIRED, reconnect, vendor_code=stale, message="revoked"),
            Rule(ErrorCode.AUTH_INVALID, reconnect, vendor_code="invalid_grant"),
            Rule(
                ErrorCode.AUTH_INVALID,
                "Check the client ID and client secret; the refresh token must have been issued to this same "
                "OAuth client.",
                vendor_code=("invalid_client", "unauthorized_client"),
            ),
            Rule(ErrorCode.INSUFFICIENT_PERMISSIONS, reconnect, vendor_code="invalid_scope"),
            Rule(ErrorCode.INVALID_CONFIG, vendor_code="invalid_request"),
        ),
    )


def refresh_access_token(
    connector: Connector,
    token_url: str,
    *,
    errors: ErrorTable,
    client_id: str,
    client_secret: str,
    refresh_token: str,
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
    body = read_json(response)
    connector.remember_secret(body.get("access_token"), body.get("refresh_token"), body.get("id_token"))
    if response.status_code == 200 and body.get("access_token"):
        return body
    if response.status_code == 200:
        raise ConnectorError(
            ErrorCode.VENDOR_ERROR, f"{errors.vendor} answered the token request without an access token."
        )
    raise errors.error(response)


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


def with_identifier_kinds(fields: list[DestinationField], kinds: dict[str, IdentifierKind]) -> list[DestinationField]:
    """Each field the vendor's preparation rule for it (normalization, then hash), by field name."""
    for field in fields:
        field.identifier_kind = kinds.get(field.name, field.identifier_kind)
    return fields
