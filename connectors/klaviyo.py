"""Klaviyo: profiles (and list membership) through the JSON:API at a.klaviyo.com with a private key."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from ._apikey import ApiKeyConnector
from .runtime.base import DestinationField, FieldsDescription, Requirement, Step
from .runtime.errors import ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, secret, string
from .runtime.vendor import ErrorTable, Rule

API = "https://a.klaviyo.com"
DEFAULT_REVISION = "2026-10-15"
JSONAPI = "application/vnd.api+json"
LIST_WRITE = "lists:write, when list_id is set"
AUTH_CODES = {"not_authenticated", "authentication_failed"}
KEY_REMEDIATION = (
    "Use a private API key (pk_…) from Settings → API keys of the account the syncs write to; public "
    "6-character site ids do not work on /api endpoints. Create a new key if this one was revoked."
)
SCOPE_REMEDIATION = (
    "Edit the key's scopes in Settings → API keys: add Lists (read; write for syncs) and Profiles (write), "
    "or use a Full access key."
)

SCOPES_DOC = "https://developers.klaviyo.com/en/docs/authenticate_"
# Klaviyo has no endpoint that lists a key's scopes (Klaviyo's answer in its developer community, thread 6536);
# a call outside them is refused with 403 permission_denied before the body is judged, so a write naming nothing
# to write answers 403 without the scope and 400 with it, the workaround that thread gives
# (community.klaviyo.com/developer-group-64/api-endpoint-to-know-what-are-the-scopes-of-the-api-key-6536).
NO_PROFILE = {"data": {"type": "profile", "attributes": {}}}  # no email, phone_number or external_id: invalid
WRITE_SCOPES = {
    "profiles:write": "Profiles",
    "lists:write": "Lists",
}

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
            "write_access",
            "POST /api/profile-import with a profile naming no email, phone number or external id, which Klaviyo "
            "cannot import: a key without the Profiles write scope is refused (403), one with it gets the "
            "invalid profile's 400. Nothing is created.",
            15,
            proves=(
                Requirement(
                    "profiles:write",
                    SCOPES_DOC,
                    proof="an invalid POST /api/profile-import: 403 permission_denied comes before the 400",
                    grant="Klaviyo → Settings → API keys (a key's scopes cannot be edited: create one with Profiles "
                    "full access)",
                ),
            ),
        ),
        Step(
            "list",
            "GET /api/lists/{list_id}: the configured list exists and the key has the Lists read scope; then POST "
            "/api/lists/{list_id}/relationships/profiles with no profiles, which adds nobody: a key without the "
            "Lists write scope is refused (403).",
            15,
            proves=(
                Requirement(
                    LIST_WRITE,
                    SCOPES_DOC,
                    proof="an empty list add: 403 permission_denied comes before the empty list's answer",
                    grant="Klaviyo → Settings → API keys (create a key with Lists full access)",
                ),
            ),
        ),
    )

    @property
    def revision(self) -> str:
        return self.config.get("revision") or DEFAULT_REVISION

    def headers(self) -> dict:
        return {
            "Authorization": f"Klaviyo-API-Key {self.config['private_api_key']}",
            "revision": self.revision,
            "Accept": JSONAPI,
        }

    def get(self, path: str):
        return self.http.get(self.vendor_url(API + path), headers=self.headers())

    def prove_scope(self, scope: str, path: str, payload: dict) -> int:
        """POST a write Klaviyo cannot carry out; its 403 says the scope is missing, its 400 (or a 2xx for
        nothing) that the key holds it. Returns the HTTP status."""
        response = self.http.post(
            self.vendor_url(API + path), json=payload, headers={**self.headers(), "Content-Type": JSONAPI}
        )
        if response.status_code == 403:
            name = WRITE_SCOPES[scope]
            raise ERRORS.error(
                response,
                summary=f"The private key lacks the {name} write scope ({scope})",
                remediation=f"Klaviyo does not let a key's scopes be edited: create a private API key in Settings → "
                f"API keys with {name} full access (or Full access), and store it here.",
                context={"revision": self.revision},
                details={"scope": scope},
            )
        if response.status_code >= 300 and response.status_code != 400:
            raise ERRORS.error(response, doing=f"probing POST {path} with nothing to write")
        if response.status_code == 400 and ERRORS.parts(response)[0] in AUTH_CODES:
            raise ERRORS.error(response, context={"revision": self.revision})
        return response.status_code

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

    def check_write_access(self):
        status = self.prove_scope("profiles:write", "/api/profile-import", NO_PROFILE)
        return (
            f"The key may import profiles (profiles:write): an invalid profile import was refused for its content "
            f"(HTTP {status}), not for the key; nothing was created.",
            {"scope": "profiles:write", "http_status": status},
        )

    def check_list(self):
        list_id = self.config.get("list_id")
        if not list_id:
            self.report_not_needed(LIST_WRITE)
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
        status = self.prove_scope(
            "lists:write", f"/api/lists/{quote(list_id, safe='')}/relationships/profiles", {"data": []}
        )
        details["add_http_status"] = status
        return (
            f"List {list_id} '{attributes.get('name')}' exists, and the key may add profiles to it (lists:write: an "
            f"empty add answered HTTP {status}; nobody was added).",
            details,
        )

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
