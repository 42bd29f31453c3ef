"""Braze: user attributes written with POST /users/track on the workspace's REST endpoint."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

from ._apikey import ApiKeyConnector, seconds_until
from .runtime.base import DestinationField, FieldsDescription, Requirement, Step
from .runtime.errors import ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, enum, secret
from .runtime.vendor import ErrorTable, Rule

# rest.iad-01.braze.com … rest.us-10.braze.com, rest.fra-01.braze.eu, rest.au-01.braze.com, …
REST_ENDPOINT_PATTERN = r"^https://rest\.[a-z]{2,4}-[0-9]{2}\.braze\.(com|eu)/?$"
REST_ENDPOINT_EXAMPLES = [
    *(f"https://rest.iad-0{n}.braze.com" for n in range(1, 9)),
    "https://rest.us-10.braze.com",
    "https://rest.fra-01.braze.eu",
    "https://rest.fra-02.braze.eu",
    "https://rest.au-01.braze.com",
]
IDENTIFIER_TYPES = ["external_id", "user_alias", "braze_id", "email", "phone"]
READ_PERMISSION, WRITE_PERMISSION = "custom_attributes.get", "users.track"
PROBE_PREFIX = "cdp-connection-test-"
MAX_ATTRIBUTE_PAGES = 100  # 50 per page: 5,000 custom attributes; the endpoint shares 1,000 requests/hour
BATCH_SIZE = 75  # attribute objects per /users/track request

# Braze's data_type (lowercased) -> our field type.
CUSTOM_TYPES = {
    "string": "string",
    "number": "number",
    "integer": "integer",
    "float": "number",
    "boolean": "boolean",
    "time": "datetime",
    "date": "datetime",
    "array": "array",
    "object": "object",
    "object array": "array",
}

# Standard profile attributes of the user attributes object (names are case-sensitive, lowercase).
STANDARD_ATTRIBUTES = [
    ("first_name", "First name", "string", ""),
    ("last_name", "Last name", "string", ""),
    ("country", "Country", "string", "ISO-3166-1 alpha-2 code."),
    ("home_city", "Home city", "string", ""),
    ("language", "Language", "string", "ISO-639-1 code."),
    ("gender", "Gender", "string", "One of M, F, O, N, P."),
    ("dob", "Date of birth", "date", "YYYY-MM-DD."),
    ("time_zone", "Time zone", "string", "IANA time zone name."),
    ("email_subscribe", "Email subscription", "string", "opted_in, subscribed or unsubscribed."),
    ("push_subscribe", "Push subscription", "string", "opted_in, subscribed or unsubscribed."),
    ("image_url", "Image URL", "string", ""),
    ("current_location", "Current location", "object", "{latitude, longitude}."),
    ("date_of_first_session", "First session", "datetime", "ISO-8601."),
    ("date_of_last_session", "Last session", "datetime", "ISO-8601."),
    ("marked_email_as_spam_at", "Marked email as spam at", "datetime", "ISO-8601."),
    ("push_tokens", "Push tokens", "array", ""),
    ("facebook", "Facebook", "object", ""),
    ("twitter", "Twitter", "object", ""),
]


def _braze_parts(body: dict) -> tuple[None, str]:
    """Braze's errors: `{"message": <fatal error>, "errors": [<minor errors>]}` (no error code)."""
    said = str(body.get("message") or "")
    minor = body.get("errors")
    if isinstance(minor, list) and minor:
        said = f"{said} ({'; '.join(str(e) for e in minor[:3])})"
    return None, said


ERRORS = ErrorTable(
    "Braze",
    extract=_braze_parts,
    retry_after=lambda response, body: seconds_until(response.headers.get("X-RateLimit-Reset")),
    rules=(
        Rule(
            status=401,
            summary="Braze rejected the REST API key, or the key lacks the {permission} permission",
            remediation="Check the key exists in a workspace on {host} and has {permission} "
            "(Settings → APIs and Identifiers); create a new key if it was deleted.",
        ),
        # Braze documents two 403s (braze-inc/braze-docs `_docs/_api/errors.md`): "Access Denied" for a key without
        # the permission, "Forbidden" for a rate plan without the API or an inactive account.
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            status=403,
            message="access denied",
            summary="The REST API key lacks the {permission} permission",
            remediation="In Braze → Settings → APIs and Identifiers, edit this key and add {permission}.",
        ),
        Rule(
            status=403,
            summary="Braze refused the request: the rate plan does not include this API, or the account is inactive",
            remediation="Ask your Braze account manager to enable REST API access for this workspace.",
        ),
        Rule(
            ErrorCode.AUTH_INVALID,
            status=404,
            summary="{host} does not know this REST API key",
            remediation="The key may belong to another instance: set rest_endpoint to match your dashboard "
            "URL (dashboard-03 → rest.iad-03.braze.com), or create a new key.",
        ),
        Rule(status=429, summary="Braze is rate-limiting this workspace{shared}"),
        Rule(status=400, summary="Braze refused the request as malformed"),
    ),
)


@register
class BrazeConnector(ApiKeyConnector):
    type = "braze"
    label = "Braze"
    example_config = {
        "rest_endpoint": "https://rest.iad-01.braze.com",
        "api_key": "your-rest-api-key",
        "identifier_type": "external_id",
    }
    vendor = "Braze"
    auth_method = "REST API key (Authorization: Bearer) on the workspace's REST endpoint"
    config_schema = config_schema(
        "Braze",
        "Writes user attributes with POST /users/track on your instance's REST endpoint. Authenticate with a "
        "REST API key (Settings → APIs and Identifiers) sent as `Authorization: Bearer`; give it the "
        "users.track permission (writes) and custom_attributes.get (connection test and field discovery). "
        "Alternatives: none for server-side writes — Braze's REST API has no OAuth, and SDK app identifiers "
        "cannot call it.",
        {
            "rest_endpoint": {
                "type": "string",
                "pattern": REST_ENDPOINT_PATTERN,
                "x-pattern-message": "Must be a Braze REST endpoint, e.g. https://rest.iad-01.braze.com.",
                "examples": REST_ENDPOINT_EXAMPLES,
                "x-credential-host": True,
                "description": "Your instance's REST endpoint; it matches your dashboard URL "
                "(dashboard-01 → rest.iad-01.braze.com, dashboard-01.braze.eu → rest.fra-01.braze.eu).",
            },
            "api_key": secret("REST API key with users.track and custom_attributes.get."),
            "identifier_type": enum(
                "Which Braze user identifier the sync key fills.", IDENTIFIER_TYPES, default="external_id"
            ),
        },
        ["rest_endpoint", "api_key", "identifier_type"],
    )
    steps = (
        Step(
            "connectivity",
            "DNS resolves, TCP connects and the REST endpoint's TLS certificate is valid (GET /, no key sent).",
            10,
        ),
        Step(
            "authentication",
            "GET /custom_attributes: the REST API key is known on this instance and has the "
            "custom_attributes.get permission (Braze answers 401 alike for both).",
            15,
        ),
        Step(
            "write_access",
            "The key has the users.track permission: POST /users/track with one attributes object in "
            "update-only mode (`_update_existing_only: true`) for a random external_id that matches no user, "
            "so Braze creates and changes nothing.",
            15,
            proves=(
                Requirement(
                    WRITE_PERMISSION,
                    "https://www.braze.com/docs/api/endpoints/user_data/post_user_track",
                    proof="POST /users/track in update-only mode for an external_id no user has; a key without the "
                    "permission is refused (403 Access Denied) before anything is processed",
                    grant="Braze → Settings → APIs and Identifiers → the key's permissions",
                ),
            ),
        ),
    )

    def __init__(self, config, *, policy=None):
        super().__init__(config, policy=policy)
        self._key_accepted = False

    # --- urls and headers -------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self.config["rest_endpoint"].rstrip("/")

    def api_url(self, path: str) -> str:
        """A URL on the configured instance, redirected to CONNECTOR_BASE_URLS['braze'] when set."""
        return self.vendor_url(self.endpoint + path)

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.config['api_key']}", "Accept": "application/json"}

    # --- steps ------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(self.api_url("/"), rest_endpoint=self.endpoint)

    def check_authentication(self):
        response = self.http.get(self.api_url("/custom_attributes"), headers=self.headers())
        if response.status_code != 200:
            raise self._error(response, READ_PERMISSION)
        attributes = self.json_object(response, "attributes")["attributes"]
        self._key_accepted = True
        count = len(attributes) if isinstance(attributes, list) else 0
        more = "next" in response.links
        shown = f"{count}{'+' if more else ''}"
        return (
            f"Braze accepted the REST API key on {urlsplit(self.endpoint).hostname}; it may read the custom "
            f"attribute schema ({shown} custom attributes).",
            {"custom_attributes": shown, "permission": READ_PERMISSION},
        )

    def check_write_access(self):
        probe_id = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
        payload = {"attributes": [{"external_id": probe_id, "_update_existing_only": True}]}
        response = self.http.post(self.api_url("/users/track"), json=payload, headers=self.headers())
        if response.status_code not in (200, 201, 202):
            raise self._error(response, WRITE_PERMISSION)
        body = self.json_object(response, "message")
        if body["message"] not in ("success", "queued"):
            raise ERRORS.error(
                response, summary="Braze did not accept the update-only probe", code=ErrorCode.VENDOR_ERROR
            )
        minor = body.get("errors") or []
        return (
            f"The key may write user data (users.track): Braze accepted an update-only probe for a user that "
            f"does not exist ({body['message']}), so no profile was created.",
            {
                "permission": WRITE_PERMISSION,
                "probe_external_id": probe_id,
                "attributes_processed": body.get("attributes_processed"),
                "non_fatal_errors": len(minor) if isinstance(minor, list) else 0,
            },
        )

    # --- errors -----------------------------------------------------------------------------

    def _error(self, response, permission: str):
        context = {"permission": permission, "host": urlsplit(self.endpoint).hostname}
        if response.status_code == 401 and self._key_accepted:  # the key worked a step ago: a missing permission
            return ERRORS.error(
                response,
                summary=f"The REST API key lacks the {permission} permission",
                code=ErrorCode.INSUFFICIENT_PERMISSIONS,
                remediation=f"In Braze → Settings → APIs and Identifiers, edit this key and add {permission}.",
            )
        if response.status_code == 429 and permission == READ_PERMISSION:
            context["shared"] = " (/custom_attributes shares 1,000 requests/hour with /events)"
        return ERRORS.error(response, context={"shared": "", **context})

    # --- fields -----------------------------------------------------------------------------

    def describe_fields(self) -> FieldsDescription:
        identifier = self.config.get("identifier_type", "external_id")
        fields = [
            DestinationField(
                "external_id",
                "External ID",
                "string",
                identifier=True,
                updateable=False,
                description="Your own user id; Braze's preferred sync key.",
            ),
            DestinationField(
                "user_alias",
                "User alias",
                "object",
                identifier=True,
                updateable=False,
                description="{alias_name, alias_label}.",
            ),
            DestinationField(
                "braze_id",
                "Braze ID",
                "string",
                identifier=True,
                createable=False,
                updateable=False,
                description="Assigned by Braze; only matches existing users.",
            ),
            DestinationField("email", "Email", "string", identifier=True),
            DestinationField("phone", "Phone", "string", identifier=True, description="E.164 recommended."),
        ]
        for field in fields:
            field.required = field.name == identifier
        fields += [DestinationField(n, label, t, description=d) for n, label, t, d in STANDARD_ATTRIBUTES]
        taken = {f.name for f in fields}
        for attribute in self._custom_attributes():
            name = attribute.get("name")
            if not isinstance(name, str) or not name or name in taken:
                continue
            taken.add(name)
            blocklisted = str(attribute.get("status", "")).lower() == "blocklisted"
            notes = [
                str(attribute.get("description") or "").strip(),
                "Blocklisted: Braze drops writes." if blocklisted else "",
            ]
            fields.append(
                DestinationField(
                    name,
                    name,
                    CUSTOM_TYPES.get(str(attribute.get("data_type", "")).lower(), "string"),
                    createable=not blocklisted,
                    updateable=not blocklisted,
                    description=" ".join(n for n in notes if n),
                )
            )
        return FieldsDescription(
            object="user",
            source="live",
            fields=fields,
            options={
                "identifier_type": identifier,
                "endpoint": "/users/track",
                "batch_size": BATCH_SIZE,
                "new_custom_attributes": "Braze creates a custom attribute on its first write; any name works.",
            },
        )

    def _custom_attributes(self) -> list[dict]:
        """Every page of GET /custom_attributes (50 each; the next cursor is in the `Link` header)."""
        attributes: list[dict] = []
        params: dict = {}
        for _ in range(MAX_ATTRIBUTE_PAGES):
            response = self.http.get(self.api_url("/custom_attributes"), headers=self.headers(), params=params)
            if response.status_code != 200:
                raise self._error(response, READ_PERMISSION)
            page = self.json_object(response, "attributes")["attributes"]
            attributes += [a for a in page if isinstance(a, dict)] if isinstance(page, list) else []
            # Follow only the cursor: the Link URL names Braze's host, which the base URL override replaces.
            cursor = parse_qs(urlsplit(response.links.get("next", {}).get("url", "")).query).get("cursor")
            if not cursor:
                break
            params = {"cursor": cursor[0]}
        return attributes
