"""Mailchimp Marketing API: audience members, at the data center named by the API key's suffix."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import quote

from ._apikey import ApiKeyConnector
from .runtime.base import DestinationField, FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, enum, secret, string
from .runtime.vendor import ErrorTable, Rule, read_json

API_KEY_PATTERN = r"^[A-Za-z0-9]+-([a-z]{2,4}[0-9]{1,3})$"
MERGE_FIELDS_PAGE = 1000  # the maximum `count`
MAX_MERGE_FIELD_PAGES = 10
MEMBER_STATUSES = ["subscribed", "pending", "unsubscribed", "transactional"]
KEY_REMEDIATION = (
    "Check the API key (Profile → Extras → API keys) and copy it whole: its -<dc> suffix names the account's "
    "data center. Create a new key if this one was disabled or deleted."
)

# Problem details: `{"type", "title", "status", "detail", "instance"}`; the `title` names the problem, and
# titles not listed fall back to the HTTP status.
ERRORS = ErrorTable(
    "Mailchimp",
    extract=lambda body: (body.get("title") if isinstance(body.get("title"), str) else None, body.get("detail")),
    rules=(
        Rule(ErrorCode.VENDOR_ERROR, status=range(500, 600)),
        Rule(ErrorCode.AUTH_INVALID, KEY_REMEDIATION, vendor_code=("API Key Missing", "API Key Invalid")),
        Rule(
            ErrorCode.INVALID_CONFIG,
            "The key's -<dc> suffix does not match the account's data center; copy the key again, whole.",
            vendor_code="Wrong Datacenter",
        ),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "The Mailchimp user that owns this key is disabled; re-enable it or use a key of an active user.",
            vendor_code="User Disabled",
        ),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "The user that owns this key may not access this audience; use a key of a Manager, Admin or Owner.",
            vendor_code="Forbidden",
        ),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "The account is under a Mailchimp compliance review; contact Mailchimp support.",
            vendor_code="Compliance Related",
        ),
        Rule(ErrorCode.NOT_FOUND, vendor_code="Resource Not Found"),
        Rule(
            ErrorCode.RATE_LIMITED,
            "Mailchimp allows 10 simultaneous connections per account; retry in a few seconds, when other "
            "integrations on this account are quieter.",
            vendor_code="Too Many Requests",
        ),
    ),
)

# Merge field `type` -> our field type.
MERGE_TYPES = {"number": "number", "address": "object", "date": "date"}

MEMBER_FIELDS = [
    DestinationField(
        "email_address",
        "Email address",
        "string",
        required=True,
        identifier=True,
        description="The sync key; Mailchimp addresses the member by md5(lowercase(email)).",
    ),
    DestinationField(
        "status", "Status", "string", description="subscribed, unsubscribed, cleaned, pending or transactional."
    ),
    DestinationField("email_type", "Email type", "string", description="html or text."),
    DestinationField("language", "Language", "string", description="Mailchimp language code, e.g. en, fr."),
    DestinationField("vip", "VIP", "boolean"),
    DestinationField("location", "Location", "object", description="{latitude, longitude}."),
    DestinationField("tags", "Tags", "array", description="Tag names."),
]


@register
class MailchimpConnector(ApiKeyConnector):
    type = "mailchimp"
    label = "Mailchimp"
    example_config = {"api_key": "yourapikey0123456789-us19", "list_id": "1a2b3c4d5e"}
    vendor = "Mailchimp"
    auth_method = "API key (HTTP Basic, key as password); the key's -<dc> suffix picks the data center"
    config_schema = config_schema(
        "Mailchimp",
        "Adds or updates members of one audience (PUT /3.0/lists/{list_id}/members/{md5(email)}). "
        "Authenticate with an API key (Profile → Extras → API keys) sent as HTTP Basic auth with the key as "
        "password; the key's suffix (e.g. -us19) is the data center, https://us19.api.mailchimp.com. "
        "Alternative: OAuth 2 access tokens (Bearer; data center from login.mailchimp.com/oauth2/metadata), "
        "not supported here.",
        {
            "api_key": secret(
                "API key ending in its data-center suffix, e.g. …-us19.",
                pattern=API_KEY_PATTERN,
                **{"x-pattern-message": "Must be a Mailchimp API key ending in its data-center suffix, e.g. -us19."},
            ),
            "list_id": string(
                "Audience ID (Audience → Settings → Audience name and defaults).",
                pattern="^[A-Za-z0-9]+$",
                **{"x-pattern-message": "Must be a Mailchimp audience ID, e.g. 1a2b3c4d5e."},
            ),
            "status_if_new": enum(
                "Status given to members the sync creates (existing members keep theirs). `pending` sends a "
                "double opt-in email; `transactional` receives no marketing.",
                MEMBER_STATUSES,
                default="subscribed",
            ),
        },
        ["api_key", "list_id"],
    )
    steps = (
        Step(
            "connectivity",
            "DNS resolves, TCP connects and the key's data-center host (<dc>.api.mailchimp.com) "
            "has a valid TLS certificate: GET /3.0/ping without the key.",
            10,
        ),
        Step(
            "authentication", "GET /3.0/: Mailchimp accepts the API key in its data center and names the account.", 15
        ),
        Step(
            "audience",
            "GET /3.0/lists/{list_id}: the audience exists in this account and the key may read "
            "it (Mailchimp keys are not scoped: a key that reads an audience may also write to it).",
            15,
            proves=(
                Requirement(
                    "add or update the audience's members (PUT /3.0/lists/{list_id}/members/{hash})",
                    "https://mailchimp.com/developer/marketing/api/list-members/add-or-update-list-member/",
                    proof="the key is accepted and reads the audience; Mailchimp API keys are unscoped and grant full "
                    "access to the account, and only Manager-level users or higher can create them "
                    "(https://mailchimp.com/help/about-api-keys/)",
                ),
            ),
        ),
    )

    @property
    def data_center(self) -> str:
        """The key's suffix; checked, since it becomes part of a host name (a DNS error would show it)."""
        match = re.fullmatch(API_KEY_PATTERN, self.config.get("api_key") or "")
        if match is None:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                "The API key does not end in a data-center suffix such as -us19.",
                remediation=KEY_REMEDIATION,
            )
        return match.group(1)

    def secret_values(self) -> list[str]:
        key = self.config.get("api_key") or ""
        return [*super().secret_values(), key.rsplit("-", 1)[0]]

    def api_url(self, path: str) -> str:
        """A URL on the key's data center, redirected to CONNECTOR_BASE_URLS['mailchimp'] when set."""
        return self.vendor_url(f"https://{self.data_center}.api.mailchimp.com/3.0{path}")

    def get(self, path: str, **params):
        response = self.http.get(self.api_url(path), auth=("anystring", self.config["api_key"]), params=params)
        if response.status_code != 200:
            raise self._error(response, audience=path.startswith("/lists/"))
        return response

    @property
    def list_path(self) -> str:
        return f"/lists/{quote(self.config['list_id'], safe='')}"

    # --- steps ------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(self.api_url("/ping"), data_center=self.data_center)

    def check_authentication(self):
        account = self.json_object(self.get("/", fields="account_id,account_name"), "account_id")
        return (
            f"Mailchimp accepted the API key in data center {self.data_center} for account "
            f"'{account.get('account_name')}'.",
            {
                "data_center": self.data_center,
                "account_id": account["account_id"],
                "account_name": account.get("account_name"),
            },
        )

    def check_audience(self):
        audience = self.json_object(self.get(self.list_path, fields="id,name,double_optin,stats.member_count"), "id")
        details = {
            "list_id": audience["id"],
            "list_name": audience.get("name"),
            "double_optin": audience.get("double_optin"),
            "member_count": (audience.get("stats") or {}).get("member_count"),
        }
        return f"Audience {audience['id']} '{audience.get('name')}' exists and this key can read it.", details

    def _error(self, response, *, audience: bool) -> ConnectorError:
        instance = read_json(response).get("instance")
        details = {"vendor_instance": instance} if isinstance(instance, str) else {}
        if audience and response.status_code == 404:
            return ERRORS.error(
                response,
                summary=f"This Mailchimp account has no audience with ID {self.config['list_id']}",
                remediation="Copy the Audience ID from Audience → Settings → Audience name and defaults.",
                details=details,
            )
        return ERRORS.error(response, details=details)

    # --- fields -----------------------------------------------------------------------------

    def describe_fields(self) -> FieldsDescription:
        merge_fields: list[dict] = []
        for page in range(MAX_MERGE_FIELD_PAGES):
            body = self.json_object(
                self.get(f"{self.list_path}/merge-fields", count=MERGE_FIELDS_PAGE, offset=page * MERGE_FIELDS_PAGE),
                "merge_fields",
            )
            batch = (
                [m for m in body["merge_fields"] if isinstance(m, dict)]
                if isinstance(body["merge_fields"], list)
                else []
            )
            merge_fields += batch
            if not batch or len(merge_fields) >= int(body.get("total_items") or 0):
                break
        fields = [replace(f) for f in MEMBER_FIELDS]
        for merge in sorted(merge_fields, key=lambda m: m.get("display_order") or 0):
            tag = merge.get("tag")
            if not isinstance(tag, str) or not tag:
                continue
            choices = (merge.get("options") or {}).get("choices")
            notes = [f"Mailchimp type {merge.get('type')}."]
            if choices:
                notes.append("One of: " + ", ".join(str(c) for c in choices) + ".")
            fields.append(
                DestinationField(
                    f"merge_fields.{tag}",
                    str(merge.get("name") or tag),
                    MERGE_TYPES.get(str(merge.get("type")), "string"),
                    required=bool(merge.get("required")),
                    description=" ".join(notes),
                )
            )
        return FieldsDescription(
            object="member",
            source="live",
            fields=fields,
            options={
                "list_id": self.config["list_id"],
                "status_if_new": self.config.get("status_if_new", "subscribed"),
                "member_id": "md5 of the lowercased email_address (Mailchimp's subscriber_hash)",
            },
        )
