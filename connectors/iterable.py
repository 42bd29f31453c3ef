"""Iterable: user profiles (and list membership) in a project, in the US or EU data center."""

from __future__ import annotations

from ._apikey import ApiKeyConnector
from .runtime.base import DestinationField, FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, enum, secret
from .runtime.vendor import ErrorTable, Rule

HOSTS = {"US": "https://api.iterable.com", "EU": "https://api.eu.iterable.com"}
PROJECT_TYPES = ["email_based", "user_id_based", "hybrid"]
# Which identifier fields a project type accepts as the sync key.
SYNC_KEYS = {"email_based": ("email",), "user_id_based": ("userId",), "hybrid": ("email", "userId")}

# getFields types -> our field type.
FIELD_TYPES = {
    "string": "string",
    "long": "integer",
    "double": "number",
    "boolean": "boolean",
    "date": "datetime",
    "object": "object",
    "nested": "array",
    "geo_location": "object",
}
# Top-level user fields Iterable manages itself (list membership, devices, subscription state, timestamps):
# readable, but a sync cannot set them through dataFields.
SYSTEM_FIELDS = {
    "emailListIds",
    "signupDate",
    "signupSource",
    "profileUpdatedAt",
    "itblInternal",
    "devices",
    "browserTokens",
    "phoneNumberDetails",
    "unsubscribedChannelIds",
    "unsubscribedMessageTypeIds",
    "subscribedMessageTypeIds",
}

KEYS_DOC = "https://support.iterable.com/hc/en-us/articles/360043464871-API-Keys"
LIST_WRITE = "POST /api/lists/subscribe (a server-side key), when list_id is set"
SERVER_SIDE_KEY = (
    "Create a server-side API key in Iterable (Integrations → API Keys → New API key, type Server-side) and store "
    "it here: read-only, JavaScript and Mobile keys may not call {endpoint}."
)
_JWT_KEY = "This key is JWT-enabled and needs a signed JWT per request; use a standard server-side key."
# Iterable's errors are `{"msg": "...", "code": "BadApiKey", "params": {...}}`; unknown codes fall back to the status.
ERRORS = ErrorTable(
    "Iterable",
    extract=lambda body: (body.get("code") if isinstance(body.get("code"), str) else None, body.get("msg")),
    rules=(
        Rule(ErrorCode.RATE_LIMITED, vendor_code="RateLimitExceeded"),
        Rule(ErrorCode.RATE_LIMITED, status=429),
        Rule(ErrorCode.VENDOR_ERROR, status=range(500, 600)),
        Rule(
            ErrorCode.AUTH_INVALID,
            "Check the key, and that data_center is the project's: a key works only in its own data center. "
            "Create a server-side key in Integrations → API Keys if it was deleted.",
            vendor_code="BadApiKey",
        ),
        Rule(ErrorCode.AUTH_INVALID, _JWT_KEY, vendor_code=("InvalidJwtPayload", "BadAuthorizationHeader")),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "This key type may not call this endpoint (JavaScript and Mobile keys are limited); use a server-side key.",
            vendor_code="Forbidden",
        ),
        Rule(ErrorCode.NOT_FOUND, vendor_code="NotFound"),
        Rule(ErrorCode.INVALID_CONFIG, vendor_code="BadParams"),
        Rule(ErrorCode.VENDOR_ERROR, vendor_code=("DatabaseError", "GenericError")),
    ),
)


@register
class IterableConnector(ApiKeyConnector):
    type = "iterable"
    label = "Iterable"
    example_config = {"api_key": "your-server-side-api-key", "data_center": "US", "list_id": 12345}
    vendor = "Iterable"
    auth_method = "Server-side API key (Api-Key header), US or EU data center"
    config_schema = config_schema(
        "Iterable",
        "Updates user profiles (POST /api/users/bulkUpdate) and optionally subscribes them to a list. "
        "Authenticate with a server-side API key (Integrations → API Keys) sent in the `Api-Key` header; "
        "the key works only in its project's data center. Read-only, JavaScript, Mobile and JWT-enabled keys "
        "cannot write and fail the connection test.",
        {
            "api_key": secret("Server-side API key of the project."),
            "data_center": enum(
                "Where the project lives: US (api.iterable.com) or EU (api.eu.iterable.com).", list(HOSTS), default="US"
            ),
            "list_id": {
                "type": "integer",
                "minimum": 1,
                "description": "Static list to subscribe synced users to (Audience → Lists); optional.",
            },
            "project_type": enum(
                "The project's identity model; decides which field is the sync key.",
                PROJECT_TYPES,
                default="email_based",
            ),
        },
        ["api_key", "data_center"],
    )
    steps = (
        Step(
            "connectivity",
            "DNS resolves, TCP connects and the data center's API host has a valid TLS certificate (no key sent).",
            10,
        ),
        Step(
            "authentication",
            "GET /api/users/getFields: the API key is accepted in this data center and "
            "may read the project's user fields.",
            15,
        ),
        Step(
            "write_access",
            "POST /api/users/bulkUpdate with no users, which updates nothing: Iterable lets each key type call "
            "only its listed endpoints, so a read-only, JavaScript or Mobile key is refused (401) while a "
            "server-side key gets the empty batch's answer.",
            15,
            proves=(
                Requirement(
                    "POST /api/users/bulkUpdate (a server-side key)",
                    KEYS_DOC,
                    proof="an empty bulkUpdate: the key type's endpoint list is checked before the batch",
                ),
            ),
        ),
        Step(
            "list",
            "GET /api/lists: the configured list exists in the project and is a static (Standard) list; then "
            "POST /api/lists/subscribe with no subscribers, which subscribes nobody: the key may subscribe users.",
            15,
            proves=(
                Requirement(
                    LIST_WRITE,
                    KEYS_DOC,
                    proof="an empty lists/subscribe: the key type's endpoint list is checked before the subscribers",
                ),
            ),
        ),
    )

    @property
    def data_center(self) -> str:
        return self.config.get("data_center", "US")

    def api_url(self, path: str) -> str:
        """A URL on the data center's host, redirected to CONNECTOR_BASE_URLS['iterable'] when set."""
        return self.vendor_url(HOSTS[self.data_center] + path)

    def get(self, path: str):
        response = self.http.get(self.api_url(path), headers={"Api-Key": self.config["api_key"]})
        if response.status_code != 200:
            raise ERRORS.error(response)
        return response

    def prove_write(self, path: str, payload: dict) -> dict:
        """POST a write that names nothing to write. The key was accepted by an earlier step, so a 401/403 now
        is the key type's endpoint list refusing it; 2xx or a 400 about the empty payload means it may write."""
        response = self.http.post(self.api_url(path), json=payload, headers={"Api-Key": self.config["api_key"]})
        details = {"endpoint": f"POST {path}", "http_status": response.status_code}
        if response.status_code in (401, 403):
            raise ERRORS.error(
                response,
                summary=f"This API key may not call POST {path}",
                code=ErrorCode.INSUFFICIENT_PERMISSIONS,
                remediation=SERVER_SIDE_KEY.format(endpoint=f"POST {path}"),
                details=details,
            )
        if response.status_code >= 300 and ERRORS.parts(response)[0] != "BadParams":
            raise ERRORS.error(response, doing=f"probing POST {path} with nothing to write", details=details)
        return details

    # --- steps ------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(self.api_url("/"), data_center=self.data_center)

    def check_authentication(self):
        fields = self._fields(self.get("/api/users/getFields"))
        return (
            f"Iterable ({self.data_center} data center) accepted the API key; the project has "
            f"{len(fields)} user fields.",
            {"data_center": self.data_center, "user_fields": len(fields)},
        )

    def check_write_access(self):
        details = self.prove_write("/api/users/bulkUpdate", {"users": []})
        return (
            "The key may update users: POST /api/users/bulkUpdate with no users was let through to its "
            f"validation (HTTP {details['http_status']}; nothing was updated).",
            details,
        )

    def check_list(self):
        list_id = self.config.get("list_id")
        if list_id is None:
            self.report_not_needed(LIST_WRITE)
            return "No list_id configured: syncs update user profiles only, so there is no list to check.", {}
        lists = self.json_object(self.get("/api/lists"), "lists")["lists"]
        found = next((item for item in lists if isinstance(item, dict) and item.get("id") == list_id), None)
        if found is None:
            raise ConnectorError(
                ErrorCode.NOT_FOUND,
                f"The project has no list with id {list_id} ({len(lists)} lists visible to this key).",
                remediation="Copy the list id from Audience → Lists in this project, and check data_center.",
                details={"list_id": list_id},
            )
        details = {"list_id": list_id, "list_name": found.get("name"), "list_type": found.get("listType")}
        if str(found.get("listType", "Standard")).lower() != "standard":
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"List {list_id} '{found.get('name')}' is a {found.get('listType')} list; the API can only "
                "subscribe users to static (Standard) lists.",
                remediation="Create a static list in Audience → Lists and use its id.",
                details=details,
            )
        probe = self.prove_write("/api/lists/subscribe", {"listId": list_id, "subscribers": []})
        return (
            f"List {list_id} '{found.get('name')}' exists and is a static list, and the key may subscribe users to "
            f"it (an empty POST /api/lists/subscribe answered HTTP {probe['http_status']}; nobody was subscribed).",
            {**details, "subscribe_http_status": probe["http_status"]},
        )

    # --- fields -----------------------------------------------------------------------------

    def _fields(self, response) -> dict:
        fields = self.json_object(response, "fields")["fields"]
        if not isinstance(fields, dict):
            raise ERRORS.error(
                response, summary="getFields answered without a fields object", code=ErrorCode.VENDOR_ERROR
            )
        return fields

    def describe_fields(self) -> FieldsDescription:
        project_type = self.config.get("project_type", "email_based")
        keys = SYNC_KEYS[project_type]
        raw = {"email": "string", "userId": "string", **self._fields(self.get("/api/users/getFields"))}
        fields = []
        for name, vendor_type in sorted(raw.items(), key=lambda item: (item[0] not in keys, item[0])):
            system = name.split(".")[0] in SYSTEM_FIELDS
            fields.append(
                DestinationField(
                    name,
                    name,
                    FIELD_TYPES.get(str(vendor_type).lower(), "string"),
                    identifier=name in keys,
                    required=name in keys and len(keys) == 1,
                    createable=not system,
                    updateable=not system,
                    description="Managed by Iterable; read-only for syncs." if system else "",
                )
            )
        return FieldsDescription(
            object="user",
            source="live",
            fields=fields,
            options={
                "project_type": project_type,
                "sync_keys": list(keys),
                "data_center": self.data_center,
                "list_id": self.config.get("list_id"),
                "new_fields": "Iterable adds a user field on its first write (dataFields); nested names use dots.",
            },
        )
