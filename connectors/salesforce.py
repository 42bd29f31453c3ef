"""Salesforce: records of one sObject (Contact, Lead, Account, Foo__c, …) upserted through the REST API."""

from __future__ import annotations

import re
import time
from urllib.parse import quote, urlsplit

from .base import MASK, Connector, DestinationField, FieldsDescription, Step
from .errors import ConnectorError, ErrorCode
from .http import error_for_status
from .registry import register
from .schema import config_schema, credential_host, https_url, secret, string

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
DEFAULT_API_VERSION = "66.0"
DEFAULT_OBJECT = "Contact"
API_NAME = "^[A-Za-z][A-Za-z0-9_]{0,79}$"
LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
NEAR_LIMIT = 0.9

# errorCode of a REST error body ([{message, errorCode, fields}]) -> (our code, remediation)
REST_ERRORS = {
    "INVALID_SESSION_ID": (
        ErrorCode.AUTH_INVALID,
        "Salesforce refused the access token it had just issued; check the connected app's session and IP "
        "policies (Relax IP restrictions) and reconnect.",
    ),
    "REQUEST_LIMIT_EXCEEDED": (
        ErrorCode.RATE_LIMITED,
        "The org has used its API request allocation (rolling 24 hours) or its concurrent-request limit; "
        "retry later, or raise the allocation in Salesforce.",
    ),
    "API_DISABLED_FOR_ORG": (
        ErrorCode.INSUFFICIENT_PERMISSIONS,
        "Give the user the 'API Enabled' permission (profile or permission set); the org's edition must "
        "include API access.",
    ),
    "API_CURRENTLY_DISABLED": (ErrorCode.INSUFFICIENT_PERMISSIONS, "Ask the Salesforce admin to enable API access."),
    "INSUFFICIENT_ACCESS": (ErrorCode.INSUFFICIENT_PERMISSIONS, ""),
    "INSUFFICIENT_ACCESS_OR_READONLY": (ErrorCode.INSUFFICIENT_PERMISSIONS, ""),
    "NOT_FOUND": (ErrorCode.NOT_FOUND, ""),
}
# error of the OAuth token endpoint ({error, error_description}) -> (our code, remediation)
TOKEN_ERRORS = {
    "invalid_client_id": (
        ErrorCode.AUTH_INVALID,
        "client_id is not the consumer key of a connected app in this org (a new app takes up to 10 minutes "
        "to become usable).",
    ),
    "invalid_client": (ErrorCode.AUTH_INVALID, "client_secret does not match the connected app's consumer secret."),
    "unsupported_grant_type": (
        ErrorCode.INVALID_CONFIG,
        "Allow the refresh-token flow for the connected app (OAuth scope 'refresh_token, offline_access').",
    ),
    "invalid_app_access": (
        ErrorCode.INSUFFICIENT_PERMISSIONS,
        "The user is not allowed to use the connected app; pre-authorize their profile or permission set.",
    ),
}


@register
class SalesforceConnector(Connector):
    type = "salesforce"
    label = "Salesforce"
    auth_method = "OAuth 2.0 refresh-token flow (connected app or external client app)"
    config_schema = config_schema(
        "Salesforce",
        "Upserts records of one sObject through the REST API. Authenticates with the OAuth 2.0 refresh-token "
        "flow: the consumer key (client_id) and secret of a connected app or external client app, and a refresh "
        "token from its web-server flow, exchanged at login_url for an access token. Use "
        "https://test.salesforce.com as login_url for sandboxes. Alternatives not offered here: the JWT bearer "
        "flow, the client-credentials flow, a raw session token.",
        {
            "instance_url": credential_host(
                https_url("Your org's My Domain URL, e.g. https://mycompany.my.salesforce.com.")
            ),
            "login_url": credential_host(https_url("Where tokens are issued.", default=DEFAULT_LOGIN_URL)),
            "api_version": string(
                "REST API version to use, e.g. 66.0.",
                pattern="^[0-9]{2,3}\\.0$",
                default=DEFAULT_API_VERSION,
                **{"x-pattern-message": "Must be a version such as 66.0."},
            ),
            "client_id": string("Consumer key of the connected app."),
            "client_secret": secret(
                "Consumer secret of the connected app (may be omitted if the app does not require it for the "
                "refresh-token flow)."
            ),
            "refresh_token": secret("Refresh token issued to the connected app for the integration user."),
            "object": string(
                "sObject API name to write, e.g. Contact, Lead or Invoice__c.",
                pattern=API_NAME,
                default=DEFAULT_OBJECT,
                **{"x-pattern-message": "Must be an sObject API name such as Contact or Invoice__c."},
            ),
            "external_id_field": string(
                "Field used as the upsert key: an External ID field (e.g. Warehouse_Id__c), or Id.",
                pattern=API_NAME,
                **{"x-pattern-message": "Must be a field API name such as Warehouse_Id__c."},
            ),
        },
        ["instance_url", "client_id", "refresh_token"],
    )
    steps = (
        Step(
            "connectivity",
            "DNS resolves, TCP connects and TLS is valid for instance_url, and the org offers api_version "
            "(the unauthenticated version list).",
            10,
        ),
        Step(
            "authentication",
            "The refresh token is exchanged for an access token at login_url, and the REST API accepts it.",
            15,
        ),
        Step(
            "object",
            "The sObject exists and is visible, the user may create or update its records, and "
            "external_id_field is an External ID (or Id lookup) field.",
            15,
        ),
    )

    def __init__(self, config, *, policy=None):
        super().__init__(config, policy=policy)
        self._access_token: str | None = None
        self._instance: str = self.config.get("instance_url", "").rstrip("/")
        self.api_usage: dict = {}

    @property
    def api_version(self) -> str:
        return self.config.get("api_version") or DEFAULT_API_VERSION

    @property
    def sobject(self) -> str:
        return self.config.get("object") or DEFAULT_OBJECT

    @property
    def host(self) -> str:
        return urlsplit(self._instance).hostname or ""

    # --- steps ----------------------------------------------------------------------------------

    def check_connectivity(self):
        started = time.monotonic()
        response = self.http.get(f"{self._instance}/services/data/", headers={"Accept": "application/json"})
        latency = int((time.monotonic() - started) * 1000)
        if response.status_code == 429 or response.status_code >= 500:
            raise self._rest_error(response, "listing the API versions")
        versions = _json(response)
        offered = [v.get("version") for v in versions if isinstance(v, dict)] if isinstance(versions, list) else []
        if response.status_code != 200 or not offered:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"{self.host} answered HTTP {response.status_code} at /services/data/ instead of Salesforce's list "
                "of API versions.",
                remediation="Set instance_url to your org's My Domain URL, e.g. https://mycompany.my.salesforce.com.",
                http_status=response.status_code,
            )
        newest = max(offered, key=_version_key)
        details = {"latency_ms": latency, "api_version": self.api_version, "newest_api_version": newest}
        if self.api_version not in offered:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"{self.host} does not offer REST API version {self.api_version}; it offers "
                f"{min(offered, key=_version_key)} to {newest}.",
                remediation=f"Set api_version to {newest}, or another version the org offers.",
                details=details,
            )
        return (
            f"Reached {self.host} in {latency} ms; it offers API version {self.api_version} (newest {newest}).",
            details,
        )

    def check_authentication(self):
        token = self._refresh()
        details = {"instance_url": self._instance}
        identity = urlsplit(str(token.get("id") or "")).path.rstrip("/").split("/")
        if len(identity) >= 2 and identity[-2].startswith("00D"):
            details.update({"organization_id": identity[-2], "user_id": identity[-1]})
        if self.rotated_secrets:
            details["refresh_token_rotated"] = True
        response = self._rest_get("limits")
        if response.status_code == 200:
            limits = _json(response)
            requests_today = (limits.get("DailyApiRequests") if isinstance(limits, dict) else None) or {}
            if "Max" in requests_today:
                details["daily_api_requests"] = {
                    "max": requests_today["Max"],
                    "remaining": requests_today.get("Remaining"),
                }
        elif response.status_code == 403 and self._rest_code(response) not in (
            "REQUEST_LIMIT_EXCEEDED",
            "API_DISABLED_FOR_ORG",
            "API_CURRENTLY_DISABLED",
        ):
            details["limits"] = "not readable (the user lacks 'View Setup and Configuration')"
        else:
            raise self._rest_error(response, "checking the access token")
        self._add_usage(details)
        who = f" as user {details['user_id']}" if "user_id" in details else ""
        message = f"Salesforce issued an access token{who} and the REST API accepted it."
        if self.rotated_secrets:
            message += " Salesforce rotated the refresh token; the new one is saved in place of the old."
        return message, details

    def check_object(self):
        describe = self._describe()
        label = describe.get("label") or self.sobject
        createable, updateable = bool(describe.get("createable")), bool(describe.get("updateable"))
        details = {
            "object": describe.get("name", self.sobject),
            "label": label,
            "custom": bool(describe.get("custom")),
            "createable": createable,
            "updateable": updateable,
            "field_count": len(describe.get("fields") or []),
        }
        self._add_usage(details)
        if not (createable or updateable):
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The user may neither create nor edit {label} records.",
                remediation=f"Grant Create and Edit on {self.sobject} (profile or permission set), or pick another "
                "object.",
                details=details,
            )
        key = self.config.get("external_id_field")
        if key:
            field = next((f for f in describe.get("fields") or [] if str(f.get("name")).lower() == key.lower()), None)
            if field is None:
                raise ConnectorError(
                    ErrorCode.INVALID_CONFIG,
                    f"{self.sobject} has no field {key} that this user can see.",
                    remediation="Check the field's API name (custom fields end in __c) and its field-level security "
                    "for the integration user.",
                    details=details,
                )
            if not (field.get("externalId") or field.get("idLookup")):
                raise ConnectorError(
                    ErrorCode.INVALID_CONFIG,
                    f"{self.sobject}.{field['name']} is not an External ID field, so it cannot be the upsert key.",
                    remediation="Tick 'External ID' on the field in Setup › Object Manager, or use another field.",
                    details=details,
                )
            details["external_id_field"] = field["name"]
        can = " and ".join(w for w, ok in (("create", createable), ("update", updateable)) if ok)
        named = label if label == details["object"] else f"{label} ({details['object']})"
        message = f"{named} exists and the user may {can} its records"
        message += f"; upserts match on {details['external_id_field']}." if key else "."
        usage = details.get("api_usage")
        if usage and usage["limit"] and usage["used"] / usage["limit"] >= NEAR_LIMIT:
            message += f" Warning: {usage['used']} of {usage['limit']} daily API requests are used."
        return message, details

    # --- Salesforce calls -----------------------------------------------------------------------

    def _refresh(self) -> dict:
        login_url = (self.config.get("login_url") or DEFAULT_LOGIN_URL).rstrip("/")
        form = {
            "grant_type": "refresh_token",
            "client_id": self.config["client_id"],
            "refresh_token": self.config["refresh_token"],
        }
        if self.config.get("client_secret"):
            form["client_secret"] = self.config["client_secret"]
        # Never follow a redirect with credentials in the body.
        response = self.http.post(
            f"{login_url}/services/oauth2/token",
            data=form,
            headers={"Accept": "application/json"},
            allow_redirects=False,
        )
        if response.status_code != 200:
            raise self._token_error(response)
        token = _json(response)
        if not isinstance(token, dict) or not token.get("access_token"):
            raise ConnectorError(
                ErrorCode.VENDOR_ERROR,
                "Salesforce's token endpoint answered 200 without an access token.",
                http_status=200,
            )
        granted = str(token.get("scope") or "").split()
        if granted and not {"api", "full"} & set(granted):
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The refresh token was granted the scopes {' '.join(granted)}, without 'api'.",
                remediation="Add the 'Manage user data via APIs (api)' scope to the connected app, then reconnect "
                "to get a new refresh token.",
            )
        self._access_token = token["access_token"]
        issued_for = str(token.get("instance_url") or "")
        if issued_for.startswith(("https://", "http://")):
            self._instance = issued_for.rstrip("/")
        if token.get("refresh_token") and token["refresh_token"] != self.config["refresh_token"]:
            self.rotated_secrets["refresh_token"] = token["refresh_token"]
        return token

    def _rest_get(self, path: str):
        url = f"{self._instance}/services/data/v{self.api_version}/{path}"
        headers = {"Authorization": f"Bearer {self._access_token}", "Accept": "application/json"}
        response = self.http.get(url, headers=headers)
        match = LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_usage = {"used": int(match[1]), "limit": int(match[2])}
        return response

    def _describe(self) -> dict:
        if self._access_token is None:
            self._refresh()
        response = self._rest_get(f"sobjects/{quote(self.sobject, safe='')}/describe")
        if response.status_code != 200:
            raise self._rest_error(response, f"describing {self.sobject}")
        describe = _json(response)
        return describe if isinstance(describe, dict) else {}

    def _add_usage(self, details: dict) -> None:
        if self.api_usage:
            details["api_usage"] = dict(self.api_usage)

    @staticmethod
    def _rest_code(response) -> str:
        body = _json(response)
        first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
        return str(first.get("errorCode") or "")

    def _rest_error(self, response, doing: str) -> ConnectorError:
        """A REST error: a JSON array of {message, errorCode, fields}."""
        body = _json(response)
        first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
        vendor_code = str(first.get("errorCode") or "") or None
        code, remediation = REST_ERRORS.get(vendor_code or "", (None, ""))
        if vendor_code == "NOT_FOUND" and doing.startswith("describing"):
            remediation = (
                f"Check the sObject API name {self.sobject!r} (custom objects end in __c) and that the integration "
                "user's profile or permission sets can see it."
            )
        error = error_for_status(
            response,
            "Salesforce",
            vendor_message=self._scrub(str(first.get("message") or ""))[:300],
            vendor_code=vendor_code,
            code=code,
            remediation=remediation,
        )
        error.message = f"When {doing}, {error.message}"
        error.details = {"http_status": response.status_code}
        self._add_usage(error.details)
        return error

    def _token_error(self, response) -> ConnectorError:
        """The token endpoint's error: {"error": "invalid_grant", "error_description": "…"}."""
        if 300 <= response.status_code < 400:
            return ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"The token endpoint answered HTTP {response.status_code} (a redirect).",
                remediation="Set login_url to https://login.salesforce.com, https://test.salesforce.com or your My "
                "Domain URL.",
                http_status=response.status_code,
            )
        body = _json(response)
        body = body if isinstance(body, dict) else {}
        error_code = str(body.get("error") or "") or None
        description = self._scrub(str(body.get("error_description") or ""))[:200]
        code, remediation = TOKEN_ERRORS.get(error_code or "", (None, ""))
        if error_code == "invalid_grant":
            expired = "expired" in description.lower()
            code = ErrorCode.TOKEN_EXPIRED if expired else ErrorCode.AUTH_INVALID
            remediation = (
                "The refresh token expired or was revoked (connected app refresh-token policy, or the user "
                "revoked it); reconnect Salesforce to get a new one."
                if expired
                else "Salesforce refused the refresh token for this app and user; check the user is active and "
                "reconnect Salesforce."
            )
        elif code is None and response.status_code in (400, 401):
            code = ErrorCode.AUTH_INVALID
        return error_for_status(
            response,
            "Salesforce's token endpoint",
            vendor_message=description,
            vendor_code=error_code,
            code=code,
            remediation=remediation,
        )

    def _scrub(self, text: str) -> str:
        for name in ("client_secret", "refresh_token"):
            value = self.config.get(name)
            if value:
                text = text.replace(value, MASK)
        if self._access_token:
            text = text.replace(self._access_token, MASK)
        return text

    # --- fields ---------------------------------------------------------------------------------

    def describe_fields(self) -> FieldsDescription:
        describe = self._describe()
        fields = []
        for field in describe.get("fields") or []:
            createable, updateable = bool(field.get("createable")), bool(field.get("updateable"))
            identifier = bool(field.get("externalId") or field.get("idLookup")) or field.get("name") == "Id"
            if not (createable or updateable) and field.get("name") != "Id":
                continue
            fields.append(
                DestinationField(
                    name=field["name"],
                    label=field.get("label") or field["name"],
                    type=field.get("type", "string"),
                    required=createable and not field.get("nillable") and not field.get("defaultedOnCreate"),
                    identifier=identifier,
                    createable=createable,
                    updateable=updateable,
                    nullable=bool(field.get("nillable")),
                    description=_describe(field),
                )
            )
        key = self.config.get("external_id_field")
        return FieldsDescription(
            object=describe.get("name", self.sobject),
            source="live",
            fields=fields,
            options={
                "label": describe.get("label", self.sobject),
                "custom": bool(describe.get("custom")),
                "createable": bool(describe.get("createable")),
                "updateable": bool(describe.get("updateable")),
                "external_id_field": key or "Id",
                "upsert": f"PATCH /services/data/v{self.api_version}/composite/sobjects/{self.sobject}/"
                f"{key or 'Id'} (up to 200 records per request)",
            },
        )


def _json(response):
    try:
        return response.json()
    except ValueError:
        return None


def _version_key(version: str) -> float:
    try:
        return float(version)
    except (TypeError, ValueError):
        return 0.0


def _describe(field: dict) -> str:
    parts = []
    if field.get("externalId"):
        parts.append("External ID.")
    if field.get("unique"):
        parts.append("Unique.")
    if field.get("referenceTo"):
        parts.append("Id of a related " + " or ".join(field["referenceTo"]) + ".")
    values = [str(v.get("value")) for v in field.get("picklistValues") or [] if v.get("active", True)]
    if values:
        parts.append("One of: " + ", ".join(values[:20]) + (", …" if len(values) > 20 else "") + ".")
    if field.get("length"):
        parts.append(f"Up to {field['length']} characters.")
    return " ".join(parts)
