"""Salesforce: records of one sObject (Contact, Lead, Account, Foo__c, …) upserted through the REST API."""

from __future__ import annotations

import re
import time
from datetime import date
from urllib.parse import quote, urlsplit

from .runtime.base import Connector, DestinationField, FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.http import error_for_status
from .runtime.oauth import Grant, LoginHosts, OAuthApp, OAuthProvider
from .runtime.registry import register
from .runtime.schema import config_schema, credential_host, https_url, secret, string
from .runtime.vendor import ErrorTable, Rule, read_json

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
# Salesforce's login servers: CONNECTOR_BASE_URLS["salesforce"] stands in for all of them (sandbox, emulator).
LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com", ".my.salesforce.com")  # .suffix: any host under it
DEFAULT_API_VERSION = "66.0"
# Versions 31.0-40.0 are "deprecated and unsupported from Summer '27, retired from Summer '28".
OLDEST_SUPPORTED_VERSION = "41.0"
EOL_DOC = (
    "https://developer.salesforce.com/docs/atlas.en-us.262.0.securityImplGuide.meta/securityImplGuide/api_rest_eol.htm"
)
UPSERT_DOC = "https://developer.salesforce.com/docs/platform/api-rest/guide/resources-sobject-upsert-patch.md"
COLLECTION_UPSERT_DOC = (
    "https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-upsert.html"
)
# The current user's own permissions, readable without View Setup (API 41.0 and later).
USER_PERMISSIONS = "SELECT PermissionsViewAllData FROM UserPermissionAccess"
VIEW_ALL_DATA = "View All Data, when the upsert key is an External ID without 'Unique'"
DEFAULT_OBJECT = "Contact"
API_NAME = "^[A-Za-z][A-Za-z0-9_]{0,79}$"
LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
NEAR_LIMIT = 0.9

# A REST error body is a JSON array of {message, errorCode, fields}: `_rest_fault` reads its first entry.
REST_ERRORS = ErrorTable(
    "Salesforce",
    rules=(
        Rule(
            ErrorCode.INVALID_CONFIG,
            "Salesforce retired API version {version}; set api_version to a current one.",
            status=410,
        ),
        Rule(
            ErrorCode.AUTH_INVALID,
            "Salesforce refused the access token it had just issued; check the connected app's session and IP "
            "policies (Relax IP restrictions) and reconnect.",
            vendor_code="INVALID_SESSION_ID",
        ),
        Rule(
            ErrorCode.RATE_LIMITED,
            "The org has used its API request allocation (rolling 24 hours) or its concurrent-request limit; "
            "retry later, or raise the allocation in Salesforce.",
            vendor_code="REQUEST_LIMIT_EXCEEDED",
        ),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "Give the user the 'API Enabled' permission (profile or permission set); the org's edition must "
            "include API access.",
            vendor_code="API_DISABLED_FOR_ORG",
        ),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "Ask the Salesforce admin to enable API access.",
            vendor_code="API_CURRENTLY_DISABLED",
        ),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS, vendor_code=("INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY")
        ),
        Rule(ErrorCode.NOT_FOUND, vendor_code="NOT_FOUND"),
    ),
)
RECONNECT = "reconnect Salesforce to get a new one."
# The OAuth token endpoint's {"error", "error_description"}.
TOKEN_ERRORS = ErrorTable(
    "Salesforce's token endpoint",
    rules=(
        Rule(
            ErrorCode.TOKEN_EXPIRED,
            "The refresh token expired or was revoked (connected app refresh-token policy, or the user revoked it); "
            + RECONNECT,
            vendor_code="invalid_grant",
            message="expired",
        ),
        Rule(
            ErrorCode.AUTH_INVALID,
            "Salesforce refused the refresh token for this app and user; check the user is active and reconnect "
            "Salesforce.",
            vendor_code="invalid_grant",
        ),
        Rule(
            ErrorCode.AUTH_INVALID,
            "client_id is not the consumer key of a connected app in this org (a new app takes up to 10 minutes "
            "to become usable).",
            vendor_code="invalid_client_id",
        ),
        Rule(
            ErrorCode.AUTH_INVALID,
            "client_secret does not match the connected app's consumer secret.",
            vendor_code="invalid_client",
        ),
        Rule(
            ErrorCode.INVALID_CONFIG,
            "Allow the refresh-token flow for the connected app (OAuth scope 'refresh_token, offline_access').",
            vendor_code="unsupported_grant_type",
        ),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "The user is not allowed to use the connected app; pre-authorize their profile or permission set.",
            vendor_code="invalid_app_access",
        ),
        Rule(ErrorCode.AUTH_INVALID, status=(400, 401)),
    ),
)


# Connect with OAuth: the web server flow with PKCE at the login server the customer picks (production, a sandbox
# or the org's My Domain: help.salesforce.com remoteaccess_oauth_endpoints.htm); the answer names the org's
# instance_url and the identity URL `id` (remoteaccess_oauth_web_server_flow.htm).
def _oauth_credentials(grant: Grant, app: OAuthApp, options: dict) -> dict:
    return {
        "instance_url": str(grant.facts.get("instance_url") or "").rstrip("/"),
        "login_url": options["login_url"],
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "refresh_token": grant.refresh_token,
    }


OAUTH = OAuthProvider(
    vendor="Salesforce",
    authorize_url=f"{DEFAULT_LOGIN_URL}/services/oauth2/authorize",
    token_url=f"{DEFAULT_LOGIN_URL}/services/oauth2/token",
    pkce=True,
    default_scopes=("api", "refresh_token"),
    required_scopes=(("api", "full"), ("refresh_token", "offline_access")),
    to_credentials=_oauth_credentials,
    login=LoginHosts(
        default=DEFAULT_LOGIN_URL,
        allowed=LOGIN_HOSTS,
        instance_hosts=(".salesforce.com", ".force.com"),
        hint="login_url must be https://login.salesforce.com, https://test.salesforce.com (sandboxes) or your "
        "https://<domain>.my.salesforce.com.",
    ),
)


@register
class SalesforceConnector(Connector):
    type = "salesforce"
    label = "Salesforce"
    example_config = {
        "instance_url": "https://mycompany.my.salesforce.com",
        "client_id": "your-connected-app-consumer-key",
        "refresh_token": "your-refresh-token",
        "object": "Contact",
    }
    auth_method = "OAuth 2.0 refresh-token flow (connected app or external client app)"
    default_api_version = DEFAULT_API_VERSION
    # Salesforce supports each version at least three years and announces a retirement a year ahead; none is
    # announced for 66.0 (Spring '26), which the end-of-life table lists as supported.
    api_version_sunset: date | None = None
    api_version_doc = "https://developer.salesforce.com/docs/platform/connect-rest-api/guide/intro_api_eol.html"
    oauth = OAUTH
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
                "External ID field used as the upsert key (e.g. Warehouse_Id__c). Without one (or with Id), records "
                "are created, and updated by record Id: Salesforce's collection upsert accepts External ID fields "
                "only.",
                pattern=API_NAME,
                **{"x-pattern-message": "Must be a field API name such as Warehouse_Id__c."},
            ),
        },
        ["instance_url", "client_id", "refresh_token"],
    )
    # Salesforce's login servers (login_url); instance_url comes from the config and the token answer.
    default_base_url = DEFAULT_LOGIN_URL
    steps = (
        Step(
            "connectivity",
            "DNS resolves, TCP connects and TLS is valid for instance_url, and the org offers api_version "
            "(the unauthenticated version list); a version below 41.0 is warned about (unsupported from Summer '27).",
            10,
        ),
        Step(
            "authentication",
            "The refresh token is exchanged for an access token at login_url, the token carries the 'api' scope, "
            "and the REST API accepts it (the user has 'API Enabled').",
            15,
            proves=(
                Requirement(
                    "the 'api' OAuth scope (or 'full') and the user's 'API Enabled' permission",
                    "https://help.salesforce.com/HTViewHelpDoc?id=remoteaccess_oauth_scopes.htm&language=en_US",
                    proof="the token answer's scope, and GET /limits accepting the access token (a user without "
                    "'API Enabled' gets API_DISABLED_FOR_ORG)",
                    grant="the connected app's OAuth scopes, and the user's profile or permission set",
                ),
            ),
        ),
        Step(
            "object",
            "The sObject exists and is visible, the user may create and edit its records, and external_id_field, "
            "when set, is an External ID field (the collection upsert takes no other), Unique or upsertable with "
            "the user's 'View All Data'; without it, records are created and updated by Id.",
            15,
            proves=(
                Requirement(
                    "Create and Edit on the sObject",
                    COLLECTION_UPSERT_DOC,
                    proof="the sObject describe's createable and updateable, which reflect the user's object "
                    "permissions",
                    grant="the user's profile or permission set (Object Settings)",
                ),
                Requirement(
                    VIEW_ALL_DATA,
                    UPSERT_DOC,
                    proof="the field describe's externalId and unique; for a non-unique one, the user's own "
                    f"PermissionsViewAllData ({USER_PERMISSIONS})",
                    grant="the user's profile or permission set (System Permissions › View All Data)",
                ),
            ),
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
        details = self._check_version()
        message = (
            f"Reached {self.host} in {details['latency_ms']} ms; it offers API version {self.api_version} "
            f"(newest {details['newest_api_version']})."
        )
        if _version_key(self.api_version) < _version_key(OLDEST_SUPPORTED_VERSION):
            details["api_version_warning"] = (
                f"Salesforce deprecates API versions 31.0 to 40.0: unsupported from Summer '27, retired (HTTP 410) "
                f"from Summer '28 ({EOL_DOC})."
            )
            message += (
                f" Warning: version {self.api_version} goes unsupported in Summer '27; set api_version to "
                f"{details['newest_api_version']} (41.0 at least)."
            )
        return message, details

    def _check_version(self) -> dict:
        """GET /services/data/ (no credentials): instance_url is a Salesforce org that serves api_version."""
        started = time.monotonic()
        response = self.http.get(f"{self._instance}/services/data/", headers={"Accept": "application/json"})
        latency = int((time.monotonic() - started) * 1000)
        if response.status_code == 429 or response.status_code >= 500:
            raise self._rest_error(response, "listing the API versions")
        offered = [v.get("version") for v in _json_array(response) if isinstance(v, dict)]
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
        return details

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
            requests_today = read_json(response).get("DailyApiRequests") or {}
            if "Max" in requests_today:
                details["daily_api_requests"] = {
                    "max": requests_today["Max"],
                    "remaining": requests_today.get("Remaining"),
                }
        elif response.status_code == 403 and _rest_fault(response)[0] not in (
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
        missing = [what for what, ok in (("Create", createable), ("Edit", updateable)) if not ok]
        if missing:
            lacks = " nor ".join(m.lower() for m in missing)
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The user may {'neither ' if len(missing) > 1 else 'not '}{lacks} {label} records; a sync both "
                "creates and updates them.",
                remediation=f"Grant {' and '.join(missing)} on {self.sobject} to the integration user (profile or "
                "permission set › Object Settings), or pick another object.",
                details=details,
            )
        key = self._upsert_key()
        if key:
            field = self._key_field(describe, key, details)
            details["external_id_field"] = field["name"]
            details["write_mode"] = "upsert"
            if not field.get("unique") and self._view_all_data(field["name"], details):
                details["view_all_data"] = True
        else:
            self.report_not_needed(VIEW_ALL_DATA)
            details["write_mode"] = "create_and_update_by_id"
            details["external_id_fields"] = _external_ids(describe)
        can = " and ".join(w for w, ok in (("create", createable), ("update", updateable)) if ok)
        named = label if label == details["object"] else f"{label} ({details['object']})"
        message = f"{named} exists and the user may {can} its records"
        if key:
            message += f"; upserts match on {details['external_id_field']}."
            if details.get("view_all_data"):
                message += (
                    " It is not Unique: the user's View All Data lets the upsert search every record, and a value "
                    "found on several records fails that record (HTTP 300)."
                )
        else:
            message += (
                "; without an External ID field, records are created, and updated by Id (Salesforce's collection "
                "upsert accepts External ID fields only)."
            )
            if details["external_id_fields"]:
                message += f" To upsert, set external_id_field to {' or '.join(details['external_id_fields'])}."
        usage = details.get("api_usage")
        if usage and usage["limit"] and usage["used"] / usage["limit"] >= NEAR_LIMIT:
            message += f" Warning: {usage['used']} of {usage['limit']} daily API requests are used."
        return message, details

    def _upsert_key(self) -> str | None:
        """The External ID field upserts match on; None (no field, or Id) means create, and update by Id."""
        key = self.config.get("external_id_field")
        return None if not key or key.lower() == "id" else key

    def _key_field(self, describe: dict, key: str, details: dict) -> dict:
        """The describe of the upsert key, which must be an External ID: the collection upsert takes no other."""
        field = next((f for f in describe.get("fields") or [] if str(f.get("name")).lower() == key.lower()), None)
        if field is None:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"{self.sobject} has no field {key} that this user can see.",
                remediation="Check the field's API name (custom fields end in __c) and its field-level security "
                "for the integration user.",
                details=details,
            )
        if field.get("externalId"):
            return field
        named = f"{self.sobject}.{field['name']}"
        fallback = "or leave external_id_field empty to create records and update them by Id."
        if field.get("idLookup"):
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"{named} is an Id lookup field, not an External ID: Salesforce's collection upsert matches on "
                "External ID fields only, so it cannot be the upsert key.",
                remediation=f"Add a custom field to {self.sobject} with 'External ID' and 'Unique' ticked (Setup › "
                f"Object Manager › {self.sobject} › Fields & Relationships), fill it with the same values and set "
                f"external_id_field to it; {fallback}",
                details=details,
            )
        raise ConnectorError(
            ErrorCode.INVALID_CONFIG,
            f"{named} is not an External ID field, so it cannot be the upsert key.",
            remediation=f"Tick 'External ID' (and 'Unique') on the field in Setup › Object Manager, use another "
            f"field, {fallback}",
            details=details,
        )

    def _view_all_data(self, field: str, details: dict) -> bool | None:
        """Upserting on a non-unique External ID needs 'View All Data': the user's own permission, read from
        UserPermissionAccess. None when it cannot be read (reported unproven)."""
        response = self._rest_get("query", params={"q": USER_PERMISSIONS})
        records = read_json(response).get("records") if response.status_code == 200 else None
        if isinstance(records, list) and records and isinstance(records[0], dict):
            if records[0].get("PermissionsViewAllData"):
                return True
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"{self.sobject}.{field} is an External ID without 'Unique': Salesforce upserts on a non-unique "
                "External ID only for a user with 'View All Data', which this user lacks.",
                remediation=f"Tick 'Unique' on {field} (Setup › Object Manager › {self.sobject} › Fields & "
                "Relationships), or grant the integration user 'View All Data' (profile or permission set › System "
                "Permissions), or choose a Unique External ID field.",
                details=details,
            )
        vendor_code = _rest_fault(response)[0]
        if response.status_code == 429 or response.status_code >= 500 or vendor_code == "REQUEST_LIMIT_EXCEEDED":
            raise self._rest_error(response, "reading the user's permissions")
        too_old = _version_key(self.api_version) < _version_key(OLDEST_SUPPORTED_VERSION)
        self.report_unproven(
            VIEW_ALL_DATA,
            f"{field} is not Unique, and the user's permissions were not readable ({USER_PERMISSIONS} answered HTTP "
            f"{response.status_code}{' ' + vendor_code if vendor_code else ''}"
            f"{'; UserPermissionAccess needs API 41.0 or later' if too_old else ''}).",
            grant="the user's profile or permission set (System Permissions › View All Data), or tick 'Unique' on "
            "the field",
        )
        return None

    # --- Salesforce calls -----------------------------------------------------------------------

    def token_url(self) -> str:
        """login_url's token endpoint; a Salesforce login server is sent to CONNECTOR_BASE_URLS["salesforce"] when
        an operator set one, as the OAuth flow does. Any other login_url is used as given."""
        login_url = (self.config.get("login_url") or DEFAULT_LOGIN_URL).rstrip("/")
        url = f"{login_url}/services/oauth2/token"
        return self.vendor_url(url) if OAUTH.login.is_login_server(login_url) else url

    def _refresh(self) -> dict:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.config["client_id"],
            "refresh_token": self.config["refresh_token"],
        }
        if self.config.get("client_secret"):
            form["client_secret"] = self.config["client_secret"]
        # Never follow a redirect with credentials in the body.
        response = self.http.post(
            self.token_url(),
            data=form,
            headers={"Accept": "application/json"},
            allow_redirects=False,
        )
        if response.status_code != 200:
            raise self._token_error(response)
        token = read_json(response)
        if not token.get("access_token"):
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
        self.remember_secret(self._access_token)
        issued_for = str(token.get("instance_url") or "")
        if issued_for.startswith(("https://", "http://")):
            self._instance = issued_for.rstrip("/")
        if token.get("refresh_token") and token["refresh_token"] != self.config["refresh_token"]:
            self.rotated_secrets["refresh_token"] = token["refresh_token"]
        return token

    def _rest_get(self, path: str, **kwargs):
        url = f"{self._instance}/services/data/v{self.api_version}/{path}"
        headers = {"Authorization": f"Bearer {self._access_token}", "Accept": "application/json"}
        response = self.http.get(url, headers=headers, **kwargs)
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
        return read_json(response)

    def _add_usage(self, details: dict) -> None:
        if self.api_usage:
            details["api_usage"] = dict(self.api_usage)

    def _rest_error(self, response, doing: str) -> ConnectorError:
        vendor_code, vendor_message = _rest_fault(response)
        rule = REST_ERRORS.rule_for(response.status_code, vendor_code, vendor_message)
        remediation = rule.remediation.format(version=self.api_version) if rule else ""
        if vendor_code == "NOT_FOUND" and doing.startswith("describing"):
            remediation = (
                f"Check the sObject API name {self.sobject!r} (custom objects end in __c) and that the integration "
                "user's profile or permission sets can see it."
            )
        error = error_for_status(
            response,
            REST_ERRORS.vendor,
            vendor_message=vendor_message,
            vendor_code=vendor_code or None,
            code=rule.code if rule else None,
            remediation=remediation,
        )
        error.message = f"{error.message} (while {doing})"
        error.details = {"http_status": response.status_code}
        self._add_usage(error.details)
        return error

    def _token_error(self, response) -> ConnectorError:
        if 300 <= response.status_code < 400:
            return ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"The token endpoint answered HTTP {response.status_code} (a redirect).",
                remediation="Set login_url to https://login.salesforce.com, https://test.salesforce.com or your My "
                "Domain URL.",
                http_status=response.status_code,
            )
        return TOKEN_ERRORS.error(response)

    # --- fields ---------------------------------------------------------------------------------

    def describe_fields(self) -> FieldsDescription:
        self._check_version()  # an unserved version is reported as such, not as an unknown object
        describe = self._describe()
        fields = []
        for field in describe.get("fields") or []:
            createable, updateable = bool(field.get("createable")), bool(field.get("updateable"))
            # Sync keys: External IDs (the collection upsert's only keys) and Id (updates); not other Id lookups.
            identifier = bool(field.get("externalId")) or field.get("name") == "Id"
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
        key = self._upsert_key()
        if key:
            try:
                key = self._key_field(describe, key, {})["name"]
            except ConnectorError:
                key = None  # the object step explains why; only the paths that work are offered
        base = f"/services/data/v{self.api_version}/composite/sobjects"
        if key:
            writes = {"upsert": f"PATCH {base}/{self.sobject}/{key} (up to 200 records per request)"}
        else:
            writes = {
                "create": f"POST {base} (up to 200 records per request)",
                "update": f"PATCH {base} (records carry their Id; up to 200 per request)",
                "upsert": "needs an External ID field: Salesforce's collection upsert does not match on Id",
            }
        return FieldsDescription(
            object=describe.get("name", self.sobject),
            source="live",
            fields=fields,
            options={
                "label": describe.get("label", self.sobject),
                "custom": bool(describe.get("custom")),
                "createable": bool(describe.get("createable")),
                "updateable": bool(describe.get("updateable")),
                "external_id_field": key,
                **writes,
            },
        )


def _json_array(response) -> list:
    """Salesforce's version list and REST errors are JSON arrays, which read_json (objects only) leaves out."""
    try:
        data = response.json()
    except ValueError:
        return []
    return data if isinstance(data, list) else []


def _rest_fault(response) -> tuple[str, str]:
    """(errorCode, message) of the first entry of a REST error array."""
    first = next((e for e in _json_array(response) if isinstance(e, dict)), {})
    return str(first.get("errorCode") or ""), " ".join(str(first.get("message") or "").split())


def _external_ids(describe: dict) -> list[str]:
    return [str(f["name"]) for f in describe.get("fields") or [] if f.get("externalId") and f.get("name")]


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
