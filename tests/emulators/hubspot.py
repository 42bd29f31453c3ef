"""api.hubapi.com as far as the connector uses it: account details and CRM properties, with HubSpot's errors.

Served on HubSpot's date-based paths (/account-info/2026-03/details, /crm/properties/2026-03/{objectType}) as its
2026-03 reference documents them. As in HubSpot, no default property of companies, deals or tickets has unique
values, and hs_object_id (the record ID) is not a unique-value property either.

State: `tokens` maps a bearer token (private-app token, Service Key or OAuth access token) to its scopes;
`expired_tokens` are OAuth tokens past their expiry; `objects` maps an object type (name or objectTypeId) to its
property definitions. Error bodies follow HubSpot's shape: {status: "error", message, correlationId, category,
errors[{message, context}], links}.

What a key may do is also readable, as HubSpot documents it: an OAuth access token through
POST /oauth/2026-03/token/introspect (form: client_id, client_secret, token, token_type_hint; answer: active,
scopes, hub_id, …), a legacy private app's token through POST /oauth/v2/private-apps/get/access-token-info
(JSON {tokenKey}; answer: hubId, appId, userId, scopes). HubSpot documents neither for Service Keys.
"""

from __future__ import annotations

import copy
import secrets
import uuid

from werkzeug.routing import Rule

from .base import Emulator
from .oauth_consent import ConsentServer

VALID_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
SERVICE_KEY = "service-key-66666666-7777-8888-9999-000000000000"  # HubSpot documents no format for these
APP_ID = 3456789
EXPIRED_TOKEN = "CKDu-expired-oauth-access-token"
PORTAL_ID = 62515
CLIENT_ID = "7fff1e36-2d40-4ae1-bbb1-5266d59564fb"
CLIENT_SECRET = "b2c3d4e5-emulator-client-secret"
USER_ID = 7651234


def _prop(
    name,
    label,
    type_="string",
    field_type="text",
    *,
    unique=False,
    read_only=False,
    calculated=False,
    hidden=False,
    options=(),
    group="contactinformation",
    description="",
):
    return {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "description": description,
        "groupName": group,
        "options": [
            {"label": o.title(), "value": o, "displayOrder": i, "hidden": False} for i, o in enumerate(options)
        ],
        "displayOrder": -1,
        "calculated": calculated,
        "externalOptions": False,
        "hasUniqueValue": unique,
        "hidden": hidden,
        "hubspotDefined": not name.startswith("customer_"),
        "modificationMetadata": {"archivable": not read_only, "readOnlyDefinition": True, "readOnlyValue": read_only},
        "formField": not read_only,
        "dataSensitivity": "non_sensitive",
        "createdAt": "2019-08-06T02:41:52.108Z",
        "updatedAt": "2024-05-02T10:11:12.000Z",
        "archived": False,
    }


CONTACT_PROPERTIES = [
    _prop("email", "Email", description="A contact's email address"),
    _prop("firstname", "First Name"),
    _prop("lastname", "Last Name"),
    _prop("phone", "Phone Number", field_type="phonenumber"),
    _prop("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", options=("subscriber", "lead", "customer")),
    _prop("hs_object_id", "Record ID", "number", "number", read_only=True),
    _prop("createdate", "Create Date", "datetime", "date", read_only=True),
    _prop("hs_analytics_num_visits", "Number of Sessions", "number", "number", read_only=True, calculated=True),
    _prop("customer_id", "Customer ID", unique=True, description="Our warehouse id"),
    _prop("customer_since", "Customer since", "date", "date"),
    _prop("customer_vip", "VIP", "bool", "booleancheckbox", options=("true", "false")),
    _prop("customer_interests", "Interests", "enumeration", "checkbox", options=("golf", "tennis")),
]
COMPANY_PROPERTIES = [
    _prop("domain", "Company Domain Name", group="companyinformation"),
    _prop("name", "Name", group="companyinformation"),
    _prop("hs_object_id", "Record ID", "number", "number", read_only=True, group="companyinformation"),
]


DEAL_PROPERTIES = [
    _prop("dealname", "Deal Name", group="dealinformation"),
    _prop("dealstage", "Deal Stage", "enumeration", "radio", options=("appointmentscheduled", "closedwon")),
    _prop("pipeline", "Pipeline", "enumeration", "select", options=("default",), group="dealinformation"),
    _prop("amount", "Amount", "number", "number", group="dealinformation"),
    _prop("hs_object_id", "Record ID", "number", "number", read_only=True, group="dealinformation"),
]
TICKET_PROPERTIES = [
    _prop("subject", "Ticket name", group="ticketinformation"),
    _prop("hs_pipeline_stage", "Ticket status", "enumeration", "select", options=("1", "2", "3", "4")),
    _prop("hs_pipeline", "Pipeline", "enumeration", "select", options=("0",), group="ticketinformation"),
    _prop("content", "Ticket description", group="ticketinformation"),
    _prop("hs_object_id", "Record ID", "number", "number", read_only=True, group="ticketinformation"),
]


def unique_property(name: str, label: str, group: str = "companyinformation") -> dict:
    """A custom property created with 'Require unique values'."""
    return _prop(name, label, unique=True, group=group)


def scopes_for(object_type: str) -> list[str]:
    """The scopes HubSpot names when the properties of `object_type` may not be read."""
    kind = "custom" if object_type.startswith("2-") else object_type
    return [f"crm.objects.{kind}.read", f"crm.schemas.{kind}.read"]


ALL_SCOPES = {
    scope
    for t in ("contacts", "companies", "deals", "tickets", "custom")
    for scope in (*scopes_for(t), f"crm.objects.{t}.write")
}


class HubSpotEmulator(ConsentServer, Emulator):
    """Also a public app's OAuth: app.hubspot.com/oauth/authorize and POST /oauth/2026-03/token.

    The v1 token endpoint (deprecated 16 February 2027) is not served. HubSpot sends nothing back when the user
    declines (so Deny shows a page); its OAuth errors carry RFC 6749's {error, error_description} beside the
    older {status: BAD_AUTH_CODE | BAD_REFRESH_TOKEN | BAD_REDIRECT_URI | BAD_CLIENT_ID, message}
    (changelog: "New OAuth v3 API endpoints and standardized error responses").
    """

    vendor = "HubSpot"
    denial = None
    rules = (
        Rule("/", endpoint="root", methods=["GET", "HEAD"]),
        Rule("/oauth/authorize", endpoint="authorize", methods=["GET", "POST"]),
        Rule("/oauth/2026-03/token", endpoint="token", methods=["POST"]),
        Rule("/oauth/2026-03/token/introspect", endpoint="introspect", methods=["POST"]),
        Rule("/oauth/v2/private-apps/get/access-token-info", endpoint="token_info", methods=["POST"]),
        Rule("/account-info/2026-03/details", endpoint="account", methods=["GET"]),
        Rule("/crm/properties/2026-03/<object_type>", endpoint="properties", methods=["GET"]),
    )

    def reset_state(self) -> None:
        self.tokens: dict[str, set[str]] = {VALID_TOKEN: set(ALL_SCOPES), SERVICE_KEY: set(ALL_SCOPES)}
        self.oauth_tokens: set[str] = set()  # access tokens the public app was issued
        self.expired_tokens = {EXPIRED_TOKEN}
        self.objects = {
            "contacts": copy.deepcopy(CONTACT_PROPERTIES),
            "companies": copy.deepcopy(COMPANY_PROPERTIES),
            "deals": copy.deepcopy(DEAL_PROPERTIES),
            "tickets": copy.deepcopy(TICKET_PROPERTIES),
            "2-1234567": [
                _prop("machine_serial", "Serial", unique=True, group="machine_information"),
                _prop("hs_object_id", "Record ID", "number", "number", read_only=True, group="machine_information"),
            ],
        }
        self.daily_used = 0
        self.reset_consent(CLIENT_ID)
        self.refresh_tokens: dict[str, set[str]] = {}

    # RFC 6749 §5.2's code for each of HubSpot's older ones.
    RFC_ERRORS = {
        "BAD_CLIENT_ID": "invalid_client",
        "BAD_CLIENT_SECRET": "invalid_client",
        "BAD_AUTH_CODE": "invalid_grant",
        "BAD_REFRESH_TOKEN": "invalid_grant",
        "BAD_REDIRECT_URI": "invalid_grant",
        "BAD_GRANT_TYPE": "unsupported_grant_type",
    }

    @classmethod
    def oauth_error(cls, status: str, message: str):
        body = {
            "error": cls.RFC_ERRORS[status],
            "error_description": message,
            "status": status,
            "message": message,
            "correlationId": str(uuid.uuid4()),
        }
        return Emulator.json(body, 400)

    def _app_refusal(self, form):
        if form.get("client_id") != CLIENT_ID:
            return self.oauth_error("BAD_CLIENT_ID", "missing or invalid client id")
        if form.get("client_secret") != CLIENT_SECRET:
            return self.oauth_error("BAD_CLIENT_SECRET", "missing or invalid client secret")
        return None

    def on_token(self, request):
        form = request.form
        refusal = self._app_refusal(form)
        if refusal:
            return refusal
        if form.get("grant_type") == "authorization_code":
            grant, why = self.take_code(form)
            if grant is None:
                if why == "redirect_uri_mismatch":
                    return self.oauth_error("BAD_REDIRECT_URI", "redirect_uri does not match the install redirect")
                return self.oauth_error("BAD_AUTH_CODE", "missing or unknown auth code")
            refresh_token = f"na1-{uuid.uuid4()}"
            self.refresh_tokens[refresh_token] = set(grant["scopes"])
        elif form.get("grant_type") == "refresh_token":
            refresh_token = form.get("refresh_token", "")
            if refresh_token not in self.refresh_tokens:
                return self.oauth_error("BAD_REFRESH_TOKEN", "missing or invalid refresh token")
        else:
            return self.oauth_error("BAD_GRANT_TYPE", "grant_type must be authorization_code or refresh_token")
        access_token = f"CKDu{secrets.token_urlsafe(40)}"
        self.tokens[access_token] = set(self.refresh_tokens[refresh_token])
        self.oauth_tokens.add(access_token)
        return self.json(
            {
                "token_type": "bearer",
                "refresh_token": refresh_token,
                "access_token": access_token,
                "expires_in": 1800,
                "hub_id": PORTAL_ID,
                "user_id": USER_ID,
                "scopes": sorted(self.refresh_tokens[refresh_token]),
            }
        )

    def on_introspect(self, request):
        """RFC 7662 style: an unknown, expired or foreign token is {"active": false}, not an error."""
        form = request.form
        refusal = self._app_refusal(form)
        if refusal:
            return refusal
        token = form.get("token", "")
        if token not in self.oauth_tokens or token not in self.tokens:
            return self.json({"active": False})
        answer = {
            "token_use": "access_token",
            "active": True,
            "token": token,
            "hub_id": PORTAL_ID,
            "user_id": USER_ID,
            "client_id": CLIENT_ID,
            "app_id": APP_ID,
            "scopes": sorted(self.tokens[token]),
            "expires_in": 1700,
            "is_private_distribution": False,
            "token_type": "BEARER",
            "hub_domain": "demo.hubspot.com",
        }
        return self.json(answer)

    def on_token_info(self, request):
        """A legacy private app's token, named in the body."""
        token = (request.get_json(silent=True) or {}).get("tokenKey", "")
        if not token.startswith("pat-") or token not in self.tokens:
            return self.error(401, "The private app access token is invalid or expired.", "INVALID_AUTHENTICATION")
        return self.json({"userId": USER_ID, "hubId": PORTAL_ID, "appId": APP_ID, "scopes": sorted(self.tokens[token])})

    # --- HubSpot's answers ----------------------------------------------------------------------

    @staticmethod
    def error(status: int, message: str, category: str, **extra):
        body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}
        return Emulator.json({**body, **extra}, status)

    def rate_limit(self, endpoint: str, retry_after: int = 10, *, times=None) -> None:
        """HubSpot's 429 for an exhausted ten-second (burst) window."""
        body = {
            "status": "error",
            "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "category": "RATE_LIMITS",
            "correlationId": str(uuid.uuid4()),
            "policyName": "SECONDLY",
        }
        headers = {"Retry-After": str(retry_after), "X-HubSpot-RateLimit-Remaining": "0"}
        self.fail(endpoint, 429, body, headers=headers, times=times)

    def server_error(self, endpoint: str, status: int = 500) -> None:
        body = {"status": "error", "message": "internal error", "correlationId": str(uuid.uuid4())}
        self.fail(endpoint, status, body)

    def _rate_headers(self) -> dict:
        self.daily_used += 1
        return {
            "X-HubSpot-RateLimit-Daily": "500000",
            "X-HubSpot-RateLimit-Daily-Remaining": str(500000 - self.daily_used),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Remaining": "189",
        }

    def _caller_scopes(self, request):
        """(scopes, None) for a valid bearer token, else (None, the 401 HubSpot answers)."""
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        if token in self.expired_tokens:
            return None, self.error(
                401, "The OAuth token used to make this call expired 2 hour(s) ago.", "EXPIRED_AUTHENTICATION"
            )
        if token not in self.tokens:
            return None, self.error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        return self.tokens[token], None

    def on_root(self, request):
        return self.json({"status": "error", "message": "Not Found", "correlationId": str(uuid.uuid4())}, 404)

    def on_account(self, request):
        _scopes, refusal = self._caller_scopes(request)
        if refusal:
            return refusal
        account = {
            "portalId": PORTAL_ID,
            "accountType": "STANDARD",
            "timeZone": "Europe/Berlin",
            "companyCurrency": "EUR",
            "additionalCurrencies": [],
            "utcOffset": "+01:00",
            "utcOffsetMilliseconds": 3600000,
            "uiDomain": "app-eu1.hubspot.com",
            "dataHostingLocation": "eu1",
        }
        return self.json(account, headers=self._rate_headers())

    def on_properties(self, request, object_type):
        scopes, refusal = self._caller_scopes(request)
        if refusal:
            return refusal
        if object_type not in self.objects:
            return self.error(404, f"Unable to infer object type from: {object_type}", "OBJECT_NOT_FOUND")
        required = scopes_for(object_type)
        if not scopes & set(required):
            return self.error(
                403,
                "This app hasn't been granted all required scopes to make this call. Read more about required "
                "scopes here: https://developers.hubspot.com/scopes.",
                "MISSING_SCOPES",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": required},
                    }
                ],
                links={"scopes": "https://developers.hubspot.com/scopes"},
            )
        archived = request.args.get("archived", "false") == "true"
        results = [p for p in self.objects[object_type] if p["archived"] == archived]
        return self.json({"results": results}, headers=self._rate_headers())


def valid_config(emulator: HubSpotEmulator) -> dict:
    return {"access_token": VALID_TOKEN, "object_type": "contacts"}


EMULATOR = HubSpotEmulator
