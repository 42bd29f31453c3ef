"""HubSpot CRM: records of one object type (contacts, companies, deals, tickets or a custom object) upserted."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from .runtime.base import Connector, DestinationField, FieldsDescription, Requirement, Step, Sunset
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.oauth import OAuthProvider, access_and_refresh
from .runtime.registry import register
from .runtime.schema import config_schema, secret, string
from .runtime.vendor import ErrorTable, Rule, read_json

API = "https://api.hubapi.com"
# HubSpot's date-based API version; v1-v3 paths go unsupported in September 2027.
API_VERSION = "2026-03"
VERSIONING_DOC = "https://developers.hubspot.com/docs/developer-tooling/platform/versioning"
# The OAuth API is date-versioned too; its v1 (/oauth/v1/token) is deprecated on 16 February 2027
# (developers.hubspot.com/changelog/v1-oauth-api-deprecation and the v1 migration guide). Both take form bodies.
OAUTH_VERSION = "2026-03"
TOKEN_URL = f"{API}/oauth/{OAUTH_VERSION}/token"
# Form {client_id, client_secret, token, token_type_hint} -> {active, scopes[], hub_id, …}
# (developers.hubspot.com/docs/api-reference/latest/authentication/oauth-tokens/token-introspect).
INTROSPECT_URL = f"{TOKEN_URL}/introspect"
# A legacy private app's token: JSON {tokenKey} -> {hubId, appId, userId, scopes[]} (HubSpot's private apps page;
# quoted in HubSpot/hubspot-api-php#171); the token also goes as the Bearer header, which clients report EU tokens need.
TOKEN_INFO_URL = f"{API}/oauth/v2/private-apps/get/access-token-info"
LEGACY_APPS_SUNSET = (
    "https://developers.hubspot.com/changelog/legacy-apis-and-legacy-apps-whats-going-unsupported-and-when"
)
RECORD_ID = "hs_object_id"  # the record ID: HubSpot refuses it as an upsert idProperty ("non-unique property")
# Properties HubSpot asks for when a record is created (its objects guides: "you should include ...").
REQUIRED_PROPERTIES = {"deals": ("dealname", "dealstage"), "tickets": ("subject", "hs_pipeline_stage")}
SERVICE_KEYS = "Development › Keys › Service keys"
LEGACY_APPS = "Development › Legacy apps"
# The first sync's batch upsert needs the object's write scope ("This API requires one of the following scopes"
# on the upsert reference pages); tickets also accept the older `tickets` scope.
WRITE_SCOPE = "crm.objects.<type>.write (crm.objects.custom.write for custom objects)"
WRITE_SCOPE_SOURCE = (
    "https://developers.hubspot.com/docs/api-reference/2026-03/crm/objects/contacts/batch/upsert-contacts"
)
WRITE_SCOPE_GRANT = (
    f"the Service Key's scopes ({SERVICE_KEYS}), the legacy private app's Scopes tab ({LEGACY_APPS}), or the "
    "public app's scopes (then reconnect)"
)
OLDER_WRITE_SCOPES = {"tickets": ("tickets",)}
OBJECT_TYPES = (
    "Use contacts, companies, deals, tickets, or a custom object's objectTypeId (2-…) from HubSpot's custom object "
    "schemas."
)
# HubSpot's error body: {status: "error", message, correlationId, category, errors[{context}], policyName?}
ERRORS = ErrorTable(
    "HubSpot",
    rules=(
        Rule(
            ErrorCode.TOKEN_EXPIRED,
            "The OAuth access token expired; reconnect HubSpot.",
            status=401,
            vendor_code="EXPIRED_AUTHENTICATION",
        ),
        Rule(
            remediation=f"Check the key, or create a new Service Key in HubSpot ({SERVICE_KEYS}); a legacy private "
            f"app's token is under {LEGACY_APPS}.",
            status=401,
        ),
        Rule(ErrorCode.NOT_FOUND, OBJECT_TYPES, status=(400, 404), vendor_code="OBJECT_NOT_FOUND"),
        Rule(ErrorCode.NOT_FOUND, OBJECT_TYPES, status=(400, 404), message="infer object type"),
    ),
    extract=lambda body: (body.get("category") or body.get("errorType"), body.get("message")),
)
# The OAuth endpoints' error body: RFC 6749's {error, error_description} beside HubSpot's older {status:
# BAD_REFRESH_TOKEN | BAD_CLIENT_ID | …, message} ("New OAuth v3 API endpoints and standardized error responses").
TOKEN_ERRORS = ErrorTable(
    "HubSpot's token endpoint",
    rules=(
        Rule(
            ErrorCode.TOKEN_EXPIRED,
            "The refresh token was revoked (the app was uninstalled); re-authorise HubSpot (Connect with HubSpot).",
            vendor_code=("BAD_REFRESH_TOKEN", "invalid_grant"),
        ),
        Rule(
            ErrorCode.AUTH_INVALID,
            "client_id and client_secret must be those of the public app that issued the refresh token.",
            vendor_code=("BAD_CLIENT_ID", "BAD_CLIENT_SECRET", "invalid_client"),
        ),
    ),
    extract=lambda body: (
        body.get("status") or body.get("error"),
        body.get("message") or body.get("error_description"),
    ),
)
RATE_HEADERS = {
    "X-HubSpot-RateLimit-Daily": "daily_limit",
    "X-HubSpot-RateLimit-Daily-Remaining": "daily_remaining",
    "X-HubSpot-RateLimit-Max": "burst_limit",
    "X-HubSpot-RateLimit-Remaining": "burst_remaining",
}


# Connect with OAuth (legacy public apps): app.hubspot.com/oauth/authorize, then the date-versioned token endpoint
# TOKEN_URL (POST /oauth/2026-03/token, which takes code_verifier; /oauth/v1/token is retired on 2027-02-16:
# developers.hubspot.com/changelog/v1-oauth-api-deprecation); the answer lists `scopes` and names the account in
# `hub_id`; access tokens live 30 minutes.
OAUTH = OAuthProvider(
    vendor="HubSpot",
    authorize_url="https://app.hubspot.com/oauth/authorize",
    token_url=TOKEN_URL,
    pkce=True,
    default_scopes=("oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.read"),
    required_scopes=(("crm.objects.contacts.write",),),
    to_credentials=access_and_refresh,
    error_codes={"BAD_REFRESH_TOKEN": "invalid_grant", "BAD_AUTH_CODE": "invalid_grant"},
)


@register
class HubSpotConnector(Connector):
    type = "hubspot"
    label = "HubSpot"
    example_config = {"access_token": "your-private-app-access-token", "object_type": "contacts"}
    auth_method = (
        "Service Key (or a legacy private app's access token) sent as a Bearer token, or a public app's OAuth "
        "tokens (Connect with HubSpot)"
    )
    default_api_version = API_VERSION
    # Date-based versions are unsupported 18 months after their release (2026-03: released 30 March 2026).
    api_version_sunset = date(2027, 9, 30)
    api_version_doc = VERSIONING_DOC
    oauth = OAUTH
    sunsets = (
        Sunset(
            f"the OAuth API version {OAUTH_VERSION} (token renewal and introspection)",
            date(2027, 9, 30),
            VERSIONING_DOC,
            f"Move hubspot.OAUTH_VERSION to a current date version ({VERSIONING_DOC}).",
        ),
        # HubSpot names the month only ("a September 2027 enforcement date"): its first day is taken.
        Sunset(
            "legacy private-app tokens and their token-info call (POST /oauth/v2/private-apps/get/access-token-info)",
            date(2027, 9, 1),
            LEGACY_APPS_SUNSET,
            "Tell users of legacy private-app tokens (pat-…) to move to a Service Key, and prove a Service Key's "
            f"scopes by whatever HubSpot then documents ({LEGACY_APPS_SUNSET}).",
        ),
    )
    config_schema = config_schema(
        "HubSpot",
        "Upserts records of one HubSpot CRM object type. Authenticates with a Service Key, created in HubSpot "
        f"under {SERVICE_KEYS} and sent as `Authorization: Bearer`; new accounts can no longer create legacy "
        "private apps, but an existing private app's access token still works. The key needs the "
        "crm.objects.<type>.read/write and crm.schemas.<type>.read scopes (crm.objects.custom.* and "
        "crm.schemas.custom.read for custom objects). Records are matched on a property with unique values. "
        "A public app's OAuth tokens work too (Connect with HubSpot): with refresh_token, client_id and "
        f"client_secret the access token is renewed at /oauth/{OAUTH_VERSION}/token before use.",
        {
            "access_token": secret(
                "The Service Key (or a legacy private app's access token, pat-…), or a public app's OAuth access token."
            ),
            "client_id": string("Public app (OAuth) only: the app's client ID."),
            "client_secret": secret("Public app (OAuth) only: the app's client secret."),
            "refresh_token": secret("Public app (OAuth) only: the refresh token, exchanged for a fresh access token."),
            "object_type": string(
                "Object type to write: contacts, companies, deals, tickets, or a custom object's type id (2-…).",
                pattern="^[A-Za-z0-9_-]{1,100}$",
                default="contacts",
                **{"x-pattern-message": "Must be an object type name or id such as contacts or 2-1234567."},
            ),
            "id_property": string(
                "Property with unique values used to match records when upserting (default: email for contacts; "
                "otherwise the object's only property created with 'require unique values'). hs_object_id, the "
                "record ID, cannot be used.",
                pattern="^[A-Za-z0-9_]{1,100}$",
                **{"x-pattern-message": "Must be a HubSpot property internal name (letters, digits, _)."},
            ),
        },
        ["access_token"],
    )
    steps = (
        Step("connectivity", "DNS resolves, TCP connects and the TLS certificate of api.hubapi.com is valid.", 10),
        Step("authentication", "HubSpot accepts the key (the portal's account details are readable).", 10),
        Step(
            "object",
            "The object type exists, the key may read its properties (schema scope), records can be matched "
            "on a property with unique values (id_property, email for contacts, or the object's only unique one), "
            "and the key holds the object's write scope, read from HubSpot (OAuth token introspection, or a legacy "
            "private app's token info).",
            15,
            proves=(
                Requirement(
                    WRITE_SCOPE,
                    WRITE_SCOPE_SOURCE,
                    proof=f"the scopes HubSpot lists for the key: POST /oauth/{OAUTH_VERSION}/token/introspect for an "
                    "OAuth access token, POST /oauth/v2/private-apps/get/access-token-info for a legacy private-app "
                    "token (pat-…); a Service Key, which HubSpot documents no introspection for, is reported unproven",
                    grant=WRITE_SCOPE_GRANT,
                ),
            ),
        ),
    )
    default_base_url = API

    @property
    def object_type(self) -> str:
        return self.config.get("object_type") or "contacts"

    def _get(self, path: str, **kwargs):
        headers = {"Authorization": f"Bearer {self._bearer()}", "Accept": "application/json"}
        return self.http.get(self.vendor_url(f"{API}{path}"), headers=headers, **kwargs)

    def _bearer(self) -> str:
        """The access token; a public app's is renewed with its refresh token once per run (they live 30 minutes)."""
        if not self.config.get("refresh_token") or self.rotated_secrets.get("access_token"):
            return self.rotated_secrets.get("access_token") or self.config["access_token"]
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self.config["refresh_token"],
            "client_id": self.config.get("client_id", ""),
            "client_secret": self.config.get("client_secret", ""),
        }
        response = self.http.post(
            self.vendor_url(TOKEN_URL),
            data=form,
            headers={"Accept": "application/json"},
            allow_redirects=False,
        )
        token = read_json(response).get("access_token") if response.status_code == 200 else None
        if not token:
            raise TOKEN_ERRORS.error(response, doing="renewing the OAuth access token")
        self.rotated_secrets["access_token"] = token
        return token

    # --- steps ----------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(self.vendor_url(f"{API}/"))

    def check_authentication(self):
        response = self._get(f"/account-info/{API_VERSION}/details")
        if response.status_code == 403:
            # HubSpot checks the token before scopes: a 403 means the token itself was accepted.
            body = read_json(response)
            return (
                f"HubSpot accepted the key (it may not read account details: {body.get('category') or 'HTTP 403'}).",
                {"http_status": 403, **_rate_details(response)},
            )
        if response.status_code != 200:
            raise self._error(response, "reading the account details")
        account = read_json(response)
        details = {
            "portal_id": account.get("portalId"),
            "account_type": account.get("accountType"),
            "data_hosting_location": account.get("dataHostingLocation"),
            "ui_domain": account.get("uiDomain"),
            "time_zone": account.get("timeZone"),
            **_rate_details(response),
        }
        details = {k: v for k, v in details.items() if v is not None}
        return (
            f"HubSpot accepted the key for portal {details.get('portal_id')} "
            f"({details.get('account_type', 'unknown type')}).",
            details,
        )

    def check_object(self):
        properties, response = self._properties()
        details = {"object_type": self.object_type, "property_count": len(properties), **_rate_details(response)}
        id_property = self._id_property(properties, details)
        details["id_property"] = id_property
        message = (
            f"HubSpot {self.object_type} exist with {len(properties)} properties; records will be matched on "
            f"{id_property!r}."
        )
        held = self._write_scope(details)
        if held:
            message += f" The key holds {held}."
        return message, details

    # --- the write scope ------------------------------------------------------------------------

    def write_scopes(self) -> tuple[str, ...]:
        """The scopes, any one of which lets the key upsert this object type."""
        kind = "custom" if self.object_type.startswith("2-") else self.object_type
        return (f"crm.objects.{kind}.write", *OLDER_WRITE_SCOPES.get(kind, ()))

    def _write_scope(self, details: dict) -> str | None:
        """The write scope the key holds (None: HubSpot has no way to tell for this key); fails when it has none."""
        granted = self._granted_scopes()
        if granted is None:
            return None
        wanted = self.write_scopes()
        held = next((scope for scope in wanted if scope in granted), None)
        if held is None:
            details["required_scopes"] = list(wanted)
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The key may read HubSpot {self.object_type} but not write them: it lacks the scope {wanted[0]}, "
                "so the first upsert would be refused (403 MISSING_SCOPES).",
                remediation=f"Add {wanted[0]} to {WRITE_SCOPE_GRANT}, and test again.",
                details=details,
            )
        details["write_scope"] = held
        return held

    def _granted_scopes(self) -> list[str] | None:
        """The key's scopes as HubSpot lists them, or None (reported unproven) where HubSpot offers no way."""
        token = self._bearer()
        if self.config.get("client_id") and self.config.get("client_secret"):
            return self._introspected_scopes(token)
        if not token.startswith("pat-"):
            self.report_unproven(
                WRITE_SCOPE,
                f"HubSpot documents no way to list a Service Key's scopes (only OAuth tokens, through "
                f"/oauth/{OAUTH_VERSION}/token/introspect with the app's client_id and client_secret, and legacy "
                f"private-app tokens); {' or '.join(self.write_scopes())} shows in the first sync.",
                grant=WRITE_SCOPE_GRANT,
            )
            return None
        response = self.http.post(
            self.vendor_url(TOKEN_INFO_URL),
            json={"tokenKey": token},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            allow_redirects=False,
        )
        scopes = read_json(response).get("scopes") if response.status_code == 200 else None
        if response.status_code == 429 or response.status_code >= 500:
            raise self._error(response, "reading the private app token's scopes")
        if not isinstance(scopes, list):
            self.report_unproven(
                WRITE_SCOPE,
                f"HubSpot's private-app token info answered HTTP {response.status_code} without the token's scopes.",
                grant=WRITE_SCOPE_GRANT,
            )
            return None
        return [str(scope) for scope in scopes]

    def _introspected_scopes(self, token: str) -> list[str]:
        form = {
            "client_id": self.config["client_id"],
            "client_secret": self.config["client_secret"],
            "token": token,
            "token_type_hint": "access_token",
        }
        response = self.http.post(
            self.vendor_url(INTROSPECT_URL), data=form, headers={"Accept": "application/json"}, allow_redirects=False
        )
        if response.status_code != 200:
            raise TOKEN_ERRORS.error(response, doing="introspecting the OAuth access token")
        answer = read_json(response)
        if not answer.get("active") or not isinstance(answer.get("scopes"), list):
            raise ConnectorError(
                ErrorCode.TOKEN_EXPIRED,
                "HubSpot says the OAuth access token is no longer active.",
                remediation="Reconnect HubSpot (Connect with HubSpot), or set refresh_token so it is renewed.",
            )
        return [str(scope) for scope in answer["scopes"]]

    def _id_property(self, properties: list[dict], details: dict) -> str:
        """The upsert key: the configured one if it has unique values, else email or the only unique property."""
        configured = self.config.get("id_property")
        create_one = (
            f"Create a {self.object_type} property with 'Require unique values' (Settings › Properties, or "
            f"POST /crm/properties/{API_VERSION}/{self.object_type} with hasUniqueValue true), then set id_property "
            "to it."
        )
        if configured == RECORD_ID:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"{RECORD_ID} is the HubSpot record ID, not a property with unique values; HubSpot refuses to "
                "upsert by it.",
                remediation=self._unique_hint(properties) or create_one,
                details=details,
            )
        if configured:
            prop = next((p for p in properties if p.get("name") == configured), None)
            if prop is None:
                raise ConnectorError(
                    ErrorCode.INVALID_CONFIG,
                    f"HubSpot {self.object_type} have no property named {configured!r}.",
                    remediation=self._unique_hint(properties) or create_one,
                    details=details,
                )
            if not self._is_identifier(prop):
                raise ConnectorError(
                    ErrorCode.INVALID_CONFIG,
                    f"The property {configured!r} of HubSpot {self.object_type} does not require unique values, "
                    "so it cannot match records when upserting.",
                    remediation=self._unique_hint(properties) or create_one,
                    details=details,
                )
            return configured
        if self.object_type == "contacts":
            return "email"
        unique = self._unique_names(properties)
        if len(unique) == 1:
            return unique[0]
        if unique:
            details["unique_properties"] = unique
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"HubSpot {self.object_type} have several properties with unique values ({', '.join(unique)}); "
                "which one matches records is not configured.",
                remediation=self._unique_hint(properties),
                details=details,
            )
        raise ConnectorError(
            ErrorCode.INVALID_CONFIG,
            f"HubSpot {self.object_type} have no property with unique values, so records cannot be matched when "
            f"upserting ({RECORD_ID}, the record ID, is not accepted as a match key).",
            remediation=create_one,
            details=details,
        )

    def _unique_names(self, properties: list[dict]) -> list[str]:
        return sorted(p["name"] for p in properties if p.get("name") != RECORD_ID and p.get("hasUniqueValue"))

    def _unique_hint(self, properties: list[dict]) -> str:
        names = self._unique_names(properties)
        if self.object_type == "contacts":
            names = ["email", *names]
        return f"Set id_property to one of: {', '.join(names)}." if names else ""

    # --- HubSpot answers --------------------------------------------------------------------------

    def _properties(self):
        path = f"/crm/properties/{API_VERSION}/{quote(self.object_type, safe='')}"
        response = self._get(path, params={"archived": "false"})
        if response.status_code != 200:
            raise self._error(response, f"listing the properties of {self.object_type}")
        return read_json(response).get("results", []), response

    def _error(self, response, doing: str) -> ConnectorError:
        body = read_json(response)
        details = {"correlation_id": body["correlationId"]} if body.get("correlationId") else {}
        summary, remediation = "", ""
        if response.status_code == 403 and body.get("category") == "MISSING_SCOPES":
            scopes = details["required_scopes"] = _required_scopes(body)
            summary = f"The key needs one of the scopes {', '.join(scopes)}" if scopes else ""
            remediation = (
                f"Add {' or '.join(scopes) if scopes else 'the missing scope'} to the Service Key ({SERVICE_KEYS}, "
                f"or the legacy private app under {LEGACY_APPS}) and test again."
            )
        error = ERRORS.error(response, doing=doing, summary=summary, remediation=remediation, details=details)
        if response.status_code == 429:
            window = str(body.get("policyName") or "").lower() or "API"
            wait = f"retry in {error.retry_after:g}s" if error.retry_after is not None else "retry later"
            error.remediation = f"HubSpot's {window} rate limit, shared by all apps of the account, is used up; {wait}."
        return error

    def _is_identifier(self, prop: dict) -> bool:
        name = prop.get("name")
        if name == RECORD_ID:
            return False
        return bool(prop.get("hasUniqueValue")) or (name == "email" and self.object_type == "contacts")

    # --- fields ---------------------------------------------------------------------------------

    def describe_fields(self) -> FieldsDescription:
        properties, _response = self._properties()
        required = REQUIRED_PROPERTIES.get(self.object_type, ())
        fields = []
        for prop in properties:
            meta = prop.get("modificationMetadata") or {}
            mappable = not meta.get("readOnlyValue") and not prop.get("calculated")
            if not mappable:
                continue
            fields.append(
                DestinationField(
                    name=prop["name"],
                    label=prop.get("label") or prop["name"],
                    type=prop.get("type", "string"),
                    required=prop["name"] in required,
                    identifier=self._is_identifier(prop),
                    description=_describe(prop),
                )
            )
        try:
            id_property = self._id_property(properties, {})
        except ConnectorError:
            id_property = None  # the object step explains why; the fields are still worth showing
        return FieldsDescription(
            object=self.object_type,
            source="live",
            fields=fields,
            options={
                "id_property": id_property,
                "upsert": f"POST /crm/objects/{API_VERSION}/{self.object_type}/batch/upsert (up to 100 inputs, "
                "idProperty: a property with unique values)",
            },
        )


def _required_scopes(body: dict) -> list[str]:
    scopes: list[str] = []
    for error in body.get("errors") or []:
        context = (error or {}).get("context") or {}
        for scope in context.get("requiredGranularScopes") or context.get("requiredScopes") or []:
            if isinstance(scope, str) and scope not in scopes and len(scope) <= 100:
                scopes.append(scope)
    return scopes[:10]


def _rate_details(response) -> dict:
    details = {}
    for header, key in RATE_HEADERS.items():
        value = response.headers.get(header)
        if value and value.isdigit():
            details.setdefault("rate_limit", {})[key] = int(value)
    return details


def _describe(prop: dict) -> str:
    parts = [prop.get("description") or ""]
    options = [str(o.get("value")) for o in prop.get("options") or [] if isinstance(o, dict)]
    if options:
        parts.append("One of: " + ", ".join(options[:20]) + (", …" if len(options) > 20 else "") + ".")
    if prop.get("hasUniqueValue"):
        parts.append("Unique across records.")
    return " ".join(p for p in parts if p)[:500]
