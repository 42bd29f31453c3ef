"""HubSpot CRM: records of one object type (contacts, companies, deals, tickets or a custom object) upserted."""

from __future__ import annotations

from urllib.parse import quote

from .base import Connector, DestinationField, FieldsDescription, Step
from .errors import ConnectorError, ErrorCode
from .http import error_for_status
from .registry import register
from .schema import config_schema, secret, string

API = "https://api.hubapi.com"
RATE_HEADERS = {
    "X-HubSpot-RateLimit-Daily": "daily_limit",
    "X-HubSpot-RateLimit-Daily-Remaining": "daily_remaining",
    "X-HubSpot-RateLimit-Max": "burst_limit",
    "X-HubSpot-RateLimit-Remaining": "burst_remaining",
}


@register
class HubSpotConnector(Connector):
    type = "hubspot"
    label = "HubSpot"
    auth_method = (
        "Private app access token, or a public app's OAuth tokens (refreshed before use), sent as a Bearer token"
    )
    config_schema = config_schema(
        "HubSpot",
        "Upserts records of one HubSpot CRM object type. Authenticates with a private app's access token "
        "(HubSpot now lists private apps under Legacy Apps), sent as `Authorization: Bearer`. The app needs the "
        "crm.objects.<type>.read/write and crm.schemas.<type>.read scopes (crm.objects.custom.* and "
        "crm.schemas.custom.read for custom objects). A public app's OAuth tokens work too (Connect with HubSpot): "
        "with refresh_token, client_id and client_secret the access token is renewed at /oauth/v1/token first.",
        {
            "access_token": secret("The private app's access token (pat-…), or a public app's OAuth access token."),
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
                "Unique property used to match records when upserting (default: email for contacts, "
                "hs_object_id otherwise).",
                pattern="^[A-Za-z0-9_]{1,100}$",
                **{"x-pattern-message": "Must be a HubSpot property internal name (letters, digits, _)."},
            ),
        },
        ["access_token"],
    )
    steps = (
        Step("connectivity", "DNS resolves, TCP connects and the TLS certificate of api.hubapi.com is valid.", 10),
        Step("authentication", "HubSpot accepts the access token (account details of the portal are readable).", 10),
        Step(
            "object",
            "The object type exists and the token may read its properties (schema scope); the id_property, when "
            "set, is a unique-value property.",
            15,
        ),
    )
    default_base_url = API

    @property
    def object_type(self) -> str:
        return self.config.get("object_type") or "contacts"

    @property
    def id_property(self) -> str:
        return self.config.get("id_property") or ("email" if self.object_type == "contacts" else "hs_object_id")

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
            self.vendor_url(f"{API}/oauth/v1/token"),
            data=form,
            headers={"Accept": "application/json"},
            allow_redirects=False,
        )
        token = _body(response).get("access_token") if response.status_code == 200 else None
        if not token:
            body = _body(response)
            code = ErrorCode.TOKEN_EXPIRED if body.get("status") == "BAD_REFRESH_TOKEN" else None
            raise error_for_status(
                response,
                "HubSpot's token endpoint",
                vendor_code=str(body.get("status") or "") or None,
                code=code,
                remediation="Re-authorise HubSpot (Connect with HubSpot) to get a new refresh token.",
            )
        self.rotated_secrets["access_token"] = token
        return token

    # --- steps ----------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(self.vendor_url(f"{API}/"))

    def check_authentication(self):
        response = self._get("/account-info/v3/details")
        if response.status_code == 403:
            # HubSpot checks the token before scopes: a 403 means the token itself was accepted.
            body = _body(response)
            return (
                "HubSpot accepted the access token (it may not read account details: "
                f"{body.get('category') or 'HTTP 403'}).",
                {"http_status": 403, **_rate_details(response)},
            )
        if response.status_code != 200:
            raise self._error(response, "reading the account details")
        account = _body(response)
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
            f"HubSpot accepted the access token for portal {details.get('portal_id')} "
            f"({details.get('account_type', 'unknown type')}).",
            details,
        )

    def check_object(self):
        properties, response = self._properties()
        names = {p.get("name"): p for p in properties}
        details = {"object_type": self.object_type, "property_count": len(properties), **_rate_details(response)}
        id_property = self.id_property
        prop = names.get(id_property)
        if prop is None and not self.config.get("id_property"):
            return (
                f"HubSpot {self.object_type} exist with {len(properties)} properties. Write scope "
                "(crm.objects.*.write) can only be confirmed by the first sync.",
                details,
            )
        if prop is None:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"HubSpot {self.object_type} have no property named {id_property!r}.",
                remediation="Set id_property to the internal name of an existing unique-value property.",
                details=details,
            )
        if not self._is_identifier(prop):
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"The property {id_property!r} of HubSpot {self.object_type} does not require unique values, "
                "so it cannot match records when upserting.",
                remediation="Use a property created with 'require unique values', or leave id_property empty.",
                details=details,
            )
        details["id_property"] = id_property
        return (
            f"HubSpot {self.object_type} exist with {len(properties)} properties; records will be matched on "
            f"{id_property!r}. Write scope (crm.objects.*.write) can only be confirmed by the first sync.",
            details,
        )

    # --- HubSpot answers --------------------------------------------------------------------------

    def _properties(self):
        response = self._get(f"/crm/v3/properties/{quote(self.object_type, safe='')}", params={"archived": "false"})
        if response.status_code != 200:
            raise self._error(response, f"listing the properties of {self.object_type}")
        return _body(response).get("results", []), response

    def _error(self, response, doing: str) -> ConnectorError:
        """A HubSpot error body: {status, message, correlationId, category, errors[{context}], …}."""
        status = response.status_code
        body = _body(response)
        category = body.get("category") or body.get("errorType") or ""
        message = self.redact(body.get("message"), self.rotated_secrets.get("access_token"))
        code, remediation = None, ""
        if status == 401 and category == "EXPIRED_AUTHENTICATION":
            code, remediation = ErrorCode.TOKEN_EXPIRED, "The OAuth access token expired; reconnect HubSpot."
        elif status == 401:
            remediation = "Check the access token, or rotate it in HubSpot (Settings › Integrations › Private apps)."
        elif status == 403 and category == "MISSING_SCOPES":
            scopes = _required_scopes(body)
            message = f"the app needs one of the scopes {', '.join(scopes)}" if scopes else message
            remediation = (
                f"Add {' or '.join(scopes) if scopes else 'the missing scope'} to the private app "
                "(Settings › Integrations › Private apps › Scopes) and test again."
            )
        elif status in (404, 400) and (category == "OBJECT_NOT_FOUND" or "infer object type" in message):
            code = ErrorCode.NOT_FOUND
            remediation = (
                "Use contacts, companies, deals, tickets, or a custom object's objectTypeId (2-…) from "
                "GET /crm/v3/schemas."
            )
        error = error_for_status(
            response,
            "HubSpot",
            vendor_message=message,
            vendor_code=category or None,
            code=code,
            remediation=remediation,
        )
        error.message = f"When {doing}, {error.message}"
        if status == 429:
            window = str(body.get("policyName") or "").lower() or "API"
            wait = f"retry in {error.retry_after:g}s" if error.retry_after is not None else "retry later"
            error.remediation = f"HubSpot's {window} rate limit, shared by all apps of the account, is used up; {wait}."
        error.details = {
            "http_status": status,
            **({"correlation_id": body["correlationId"]} if body.get("correlationId") else {}),
        }
        if status == 403 and category == "MISSING_SCOPES":
            error.details["required_scopes"] = _required_scopes(body)
        return error

    def _is_identifier(self, prop: dict) -> bool:
        name = prop.get("name")
        return (
            bool(prop.get("hasUniqueValue"))
            or name == "hs_object_id"
            or (name == "email" and self.object_type == "contacts")
        )

    # --- fields ---------------------------------------------------------------------------------

    def describe_fields(self) -> FieldsDescription:
        properties, _response = self._properties()
        fields = []
        for prop in properties:
            meta = prop.get("modificationMetadata") or {}
            mappable = not meta.get("readOnlyValue") and not prop.get("calculated")
            identifier = self._is_identifier(prop)
            if not (mappable or identifier):
                continue
            fields.append(
                DestinationField(
                    name=prop["name"],
                    label=prop.get("label") or prop["name"],
                    type=prop.get("type", "string"),
                    identifier=identifier,
                    createable=mappable,
                    updateable=mappable,
                    description=_describe(prop),
                )
            )
        return FieldsDescription(
            object=self.object_type,
            source="live",
            fields=fields,
            options={
                "id_property": self.id_property,
                "upsert": f"POST /crm/v3/objects/{self.object_type}/batch/upsert (up to 100 inputs, idProperty)",
            },
        )


def _body(response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


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
