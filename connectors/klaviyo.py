"""Klaviyo: profiles (and list membership) through the JSON:API at a.klaviyo.com with a private key."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from ._apikey import ApiKeyConnector
from .runtime.base import DestinationField, FieldsDescription, Step
from .runtime.errors import ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, secret, string
from .runtime.vendor import ErrorTable, Rule

API = "https://a.klaviyo.com"
DEFAULT_REVISION = "2026-10-15"
JSONAPI = "application/vnd.api+json"
AUTH_CODES = {"not_authenticated", "authentication_failed"}
KEY_REMEDIATION = (
    "Use a private API key (pk_…) from Settings → API keys of the account the syncs write to; public "
    "6-character site ids do not work on /api endpoints. Create a new key if this one was revoked."
)
SCOPE_REMEDIATION = (
    "Edit the key's scopes in Settings → API keys: add Lists (read; write for syncs) and Profiles (write), "
    "or use a Full access key."
)

# Klaviyo's fixed profile attributes: (name, label, type, identifier, description).
PROFILE_ATTRIBUTES = [
    ("email", "Email", "string", True, ""),
    ("phone_number", "Phone number", "string", True, "E.164, e.g. +15005550006."),
    ("external_id", "External ID", "string", True, "Your own id for the profile."),
    ("first_name", "First name", "string", False, ""),
    ("last_name", "Last name", "string", False, ""),
    ("organization", "Organization", "string", False, ""),
    ("locale", "Locale", "string", False, "IETF BCP 47, e.g. en-US."),
    ("title", "Title", "string", False, "Job title."),
    ("image", "Image URL", "string", False, ""),
    ("location.address1", "Address line 1", "string", False, ""),
    ("location.address2", "Address line 2", "string", False, ""),
    ("location.city", "City", "string", False, ""),
    ("location.region", "Region", "string", False, "State, province or region."),
    ("location.zip", "Postal code", "string", False, ""),
    ("location.country", "Country", "string", False, ""),
    ("location.timezone", "Time zone", "string", False, "IANA name, e.g. America/New_York."),
    ("location.ip", "IP address", "string", False, ""),
    ("location.latitude", "Latitude", "number", False, ""),
    ("location.longitude", "Longitude", "number", False, ""),
    (
        "properties",
        "Custom properties",
        "object",
        False,
        "Free-form: map any column to properties.<name>; Klaviyo does not list custom property names.",
    ),
]


def _jsonapi_parts(body: dict) -> tuple[str | None, str]:
    """JSON:API errors: `{"errors": [{"id", "status", "code", "title", "detail", "source"}]}`."""
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("code") if isinstance(first.get("code"), str) else None
    return code, first.get("detail") or first.get("title") or ""


_BAD_KEY = "Klaviyo rejected the private API key"
ERRORS = ErrorTable(
    "Klaviyo",
    extract=_jsonapi_parts,
    rules=(
        Rule(ErrorCode.AUTH_INVALID, KEY_REMEDIATION, status=401, summary=_BAD_KEY),
        # One Klaviyo page documents 400 for a bad key: the code says which.
        Rule(ErrorCode.AUTH_INVALID, KEY_REMEDIATION, vendor_code=AUTH_CODES, summary=_BAD_KEY),
        Rule(
            status=400,
            message="revision",
            summary="Klaviyo does not accept revision {revision}",
            remediation="Set revision to a published API revision date (see Klaviyo's changelog), "
            f"e.g. {DEFAULT_REVISION}.",
        ),
        Rule(status=403, summary="The private key lacks the Lists read scope", remediation=SCOPE_REMEDIATION),
        Rule(status=429, summary="Klaviyo is rate-limiting this account"),
    ),
)


@register
class KlaviyoConnector(ApiKeyConnector):
    type = "klaviyo"
    label = "Klaviyo"
    example_config = {"private_api_key": "pk_your_private_api_key", "list_id": "Y6nRLr"}
    default_api_version = DEFAULT_REVISION
    api_version_sunset = date(2028, 10, 15)  # revisions are retired two years after their release
    api_version_doc = "https://developers.klaviyo.com/en/docs/api_versioning_and_deprecation_policy"
    vendor = "Klaviyo"
    default_base_url = API
    auth_method = "Private API key (Authorization: Klaviyo-API-Key) with a pinned revision header"
    config_schema = config_schema(
        "Klaviyo",
        "Creates or updates profiles (POST /api/profile-import) and optionally adds them to a list. "
        "Authenticate with a private API key (pk_…, Settings → API keys) sent as "
        "`Authorization: Klaviyo-API-Key`, with scopes Accounts read (connection test), Lists read/write and "
        "Profiles write. Every request pins the `revision` header. Alternative: OAuth apps (for technology "
        "partners; own rate-limit quota per installed account), not supported here.",
        {
            "private_api_key": secret(
                "Private API key.",
                pattern="^pk_[A-Za-z0-9_]+$",
                **{"x-pattern-message": "Must be a Klaviyo private API key (starts with pk_)."},
            ),
            "revision": string(
                f"API revision sent in the `revision` header (YYYY-MM-DD); default {DEFAULT_REVISION}.",
                pattern=r"^\d{4}-\d{2}-\d{2}(\.pre)?$",
                default=DEFAULT_REVISION,
                **{"x-pattern-message": "Must be a revision date such as 2026-10-15."},
            ),
            "list_id": string(
                "List to add synced profiles to (Audience → Lists & segments → the list's id); optional.",
                pattern="^[A-Za-z0-9]+$",
                **{"x-pattern-message": "Must be a Klaviyo list id, e.g. Y6nRLr."},
            ),
        },
        ["private_api_key"],
    )
    steps = (
        Step(
            "connectivity",
            "DNS resolves, TCP connects and a.klaviyo.com has a valid TLS certificate (no key sent).",
            10,
        ),
        Step(
            "authentication",
            "GET /api/accounts: Klaviyo accepts the private key with this revision and names "
            "the account it belongs to (a key without the Accounts read scope is still accepted).",
            15,
        ),
        Step(
            "list",
            "GET /api/lists/{list_id}: the configured list exists in this account and the key has the "
            "Lists read scope. Klaviyo has no side-effect-free write check, so the write scopes (Lists write, "
            "Profiles write) are not proved.",
            15,
        ),
    )

    @property
    def revision(self) -> str:
        return self.config.get("revision") or DEFAULT_REVISION

    def get(self, path: str):
        return self.http.get(
            self.vendor_url(API + path),
            headers={
                "Authorization": f"Klaviyo-API-Key {self.config['private_api_key']}",
                "revision": self.revision,
                "Accept": JSONAPI,
            },
        )

    # --- steps ------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(self.vendor_url(API + "/"))

    def check_authentication(self):
        response = self.get("/api/accounts")
        if response.status_code == 403:
            return (
                "Klaviyo accepted the private key; it lacks the Accounts read scope, so the account could not "
                "be named (syncs do not need that scope).",
                {"revision": self.revision, "missing_scope": "accounts:read"},
            )
        if response.status_code != 200:
            raise ERRORS.error(response, context={"revision": self.revision})
        accounts = self.json_object(response, "data")["data"]
        account = accounts[0] if isinstance(accounts, list) and accounts and isinstance(accounts[0], dict) else {}
        attributes = account.get("attributes") or {}
        name = (attributes.get("contact_information") or {}).get("organization_name") or "unnamed"
        details = {"account_id": account.get("id"), "organization": name, "revision": self.revision}
        if attributes.get("test_account"):
            details["test_account"] = True
        return f"Klaviyo accepted the private key for account {account.get('id')} ({name}).", details

    def check_list(self):
        list_id = self.config.get("list_id")
        if not list_id:
            return "No list_id configured: syncs update profiles only, so there is no list to check.", {}
        response = self.get(f"/api/lists/{quote(list_id, safe='')}")
        if response.status_code != 200:
            no_list = {}
            if response.status_code == 404:
                no_list = {
                    "summary": f"This Klaviyo account has no list with id {list_id}",
                    "remediation": "Copy the id from Audience → Lists & segments (the list's settings) in the "
                    "account this key belongs to.",
                }
            raise ERRORS.error(response, context={"revision": self.revision}, **no_list)
        data = self.json_object(response, "data")["data"]
        attributes = (data.get("attributes") or {}) if isinstance(data, dict) else {}
        details = {
            "list_id": list_id,
            "list_name": attributes.get("name"),
            "opt_in_process": attributes.get("opt_in_process"),
        }
        return f"List {list_id} '{attributes.get('name')}' exists and this key can read it.", details

    # --- errors -----------------------------------------------------------------------------

    # --- fields -----------------------------------------------------------------------------

    def describe_fields(self) -> FieldsDescription:
        fields = [
            DestinationField(name, label, kind, identifier=identifier, description=description)
            for name, label, kind, identifier, description in PROFILE_ATTRIBUTES
        ]
        return FieldsDescription(
            object="profile",
            source="static",
            fields=fields,
            options={
                "sync_keys": [f.name for f in fields if f.identifier],
                "sync_key_rule": "At least one of email, phone_number or external_id per profile.",
                "custom_properties": "free-form under properties.<name>",
                "revision": self.revision,
                "list_id": self.config.get("list_id"),
            },
        )
