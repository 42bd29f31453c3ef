"""Klaviyo's JSON:API at a.klaviyo.com: accounts, lists, profile-import and list adds, private keys with scopes.

Checks what Klaviyo checks: `Authorization: Klaviyo-API-Key pk_…` (any other scheme is not_authenticated),
a `revision` header, and the key's scopes (accounts:read, lists:read, profiles:write for profile-import,
lists:write for list adds; developers.klaviyo.com OAuth scopes reference). The scope is checked before the body is
read: a key without it gets 403 permission_denied whatever it sends, the 403-before-400 that the workaround in
Klaviyo's developer community relies on (community.klaviyo.com thread 6536, where Klaviyo confirms no endpoint
lists a key's scopes; the order itself is not on a reference page); a profile naming no email, phone number or
external id gets 400 invalid, and so does a list add of no profiles (shaped). Errors use the JSON:API envelope
`{"errors": [{"id", "status", "code", "title", "detail", "source"}]}`; 429s carry Retry-After. The answer to
a missing or unknown revision is shaped (code `invalid`, source parameter `revision`), not documented.
"""

from __future__ import annotations

import re
import uuid

from werkzeug.routing import Rule

from .base import Emulator

FULL_KEY = "pk_0123456789abcdef0123456789abcdef01"
NO_ACCOUNTS_KEY = "pk_lists0only0key0000000000000000000"  # every scope a sync needs, no accounts:read
PROFILES_ONLY_KEY = "pk_profiles0only000000000000000000000"  # accounts:read, no lists:read
READ_ONLY_KEY = "pk_read0only0key00000000000000000000"  # every read scope, no write
NO_LIST_WRITE_KEY = "pk_no0list0write000000000000000000000"  # profiles:write and lists:read, no lists:write
LIST_ID = "Y6nRLr"
ACCOUNT_ID = "AbC123"
OLDEST_REVISION = "2023-02-22"
NEWEST_REVISION = "2026-10-15"


def jsonapi_error(status: int, code: str, title: str, detail: str, **source) -> dict:
    error = {"id": str(uuid.uuid4()), "status": status, "code": code, "title": title, "detail": detail}
    if source:
        error["source"] = source
    return {"errors": [error]}


def throttled(seconds: int = 1) -> dict:
    return jsonapi_error(
        429, "throttled", "Request was throttled.", f"Request was throttled. Expected available in {seconds} second."
    )


class KlaviyoEmulator(Emulator):
    rules = (
        Rule("/", endpoint="root", methods=["GET", "HEAD"]),
        Rule("/api/accounts", endpoint="accounts", methods=["GET"], strict_slashes=False),
        Rule("/api/lists/<list_id>", endpoint="list", methods=["GET"], strict_slashes=False),
        Rule("/api/profile-import", endpoint="profile_import", methods=["POST"], strict_slashes=False),
        Rule(
            "/api/lists/<list_id>/relationships/profiles",
            endpoint="list_add",
            methods=["POST"],
            strict_slashes=False,
        ),
    )

    def reset_state(self) -> None:
        """The vendor state every test starts from (tests share one server and call reset())."""
        self.keys = {
            FULL_KEY: {"accounts:read", "lists:read", "lists:write", "profiles:read", "profiles:write"},
            NO_ACCOUNTS_KEY: {"lists:read", "lists:write", "profiles:write"},
            PROFILES_ONLY_KEY: {"accounts:read", "profiles:write"},
            READ_ONLY_KEY: {"accounts:read", "lists:read", "profiles:read"},
            NO_LIST_WRITE_KEY: {"accounts:read", "lists:read", "profiles:read", "profiles:write"},
        }
        self.profiles: list[dict] = []  # imported profiles; a connection test leaves it empty
        self.list_members: list[dict] = []
        self.lists = {LIST_ID: {"name": "Newsletter", "opt_in_process": "double_opt_in"}}
        self.bad_key_status = 401  # one Klaviyo page documents 400 for a missing or invalid key

    def _authorize(self, request, scope: str):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Klaviyo-API-Key "):
            return self.json(
                jsonapi_error(
                    401,
                    "not_authenticated",
                    "Authentication credentials were not provided.",
                    "Missing or invalid authorization scheme. Please use Klaviyo-API-Key.",
                    pointer="/data/",
                ),
                401,
            )
        key = header.removeprefix("Klaviyo-API-Key ")
        if key not in self.keys:
            status = self.bad_key_status
            return self.json(
                jsonapi_error(
                    status,
                    "authentication_failed",
                    "Incorrect authentication credentials.",
                    "Missing or invalid private key.",
                    pointer="/data/",
                ),
                status,
            )
        revision = request.headers.get("revision", "")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.pre)?", revision) or not (
            OLDEST_REVISION <= revision[:10] <= NEWEST_REVISION
        ):
            return self.json(
                jsonapi_error(
                    400, "invalid", "Invalid input.", f"'{revision}' is not a valid revision.", parameter="revision"
                ),
                400,
            )
        if scope not in self.keys[key]:
            return self.json(
                jsonapi_error(
                    403,
                    "permission_denied",
                    "You do not have permission to perform this action.",
                    f"This API key is missing the required scope: {scope}.",
                ),
                403,
            )
        return None

    def on_root(self, request):
        return self.json(jsonapi_error(404, "not_found", "Not found.", "Not found."), 404)

    def on_accounts(self, request):
        return self._authorize(request, "accounts:read") or self.json(
            {
                "data": [
                    {
                        "type": "account",
                        "id": ACCOUNT_ID,
                        "attributes": {
                            "test_account": False,
                            "contact_information": {
                                "default_sender_name": "Acme",
                                "default_sender_email": "news@acme.example",
                                "website_url": "https://acme.example",
                                "organization_name": "Acme Inc.",
                            },
                            "industry": "Retail",
                            "timezone": "America/New_York",
                            "preferred_currency": "USD",
                            "public_api_key": ACCOUNT_ID,
                            "locale": "en-US",
                        },
                        "links": {"self": f"https://a.klaviyo.com/api/accounts/{ACCOUNT_ID}/"},
                    }
                ],
                "links": {"self": "https://a.klaviyo.com/api/accounts/", "next": None, "prev": None},
            }
        )

    def on_list(self, request, list_id):
        denied = self._authorize(request, "lists:read")
        if denied:
            return denied
        if list_id not in self.lists:
            return self.json(
                jsonapi_error(404, "not_found", "Not found.", f"A list with id {list_id} does not exist."), 404
            )
        return self.json(
            {
                "data": {
                    "type": "list",
                    "id": list_id,
                    "attributes": {
                        "created": "2026-01-05T10:00:00+00:00",
                        "updated": "2026-01-05T10:00:00+00:00",
                        **self.lists[list_id],
                    },
                    "links": {"self": f"https://a.klaviyo.com/api/lists/{list_id}/"},
                }
            }
        )

    def on_profile_import(self, request):
        denied = self._authorize(request, "profiles:write")
        if denied:
            return denied
        data = (request.get_json(silent=True) or {}).get("data") or {}
        attributes = data.get("attributes") or {}
        if data.get("type") != "profile" or not any(
            attributes.get(k) for k in ("email", "phone_number", "external_id")
        ):
            return self.invalid("One of email, phone_number or external_id is required.", "/data/attributes")
        self.profiles.append(attributes)
        return self.json({"data": {"type": "profile", "id": str(uuid.uuid4()), "attributes": attributes}}, 201)

    def on_list_add(self, request, list_id):
        denied = self._authorize(request, "lists:write")
        if denied:
            return denied
        members = (request.get_json(silent=True) or {}).get("data") or []
        if list_id not in self.lists:
            return self.json(
                jsonapi_error(404, "not_found", "Not found.", f"A list with id {list_id} does not exist."), 404
            )
        if not members:
            return self.invalid("At least one profile is required.", "/data")
        self.list_members.extend(members)
        return self.json({}, 204)

    def invalid(self, detail: str, pointer: str):
        return self.json(jsonapi_error(400, "invalid", "Invalid input.", detail, pointer=pointer), 400)


def valid_config(emulator: KlaviyoEmulator) -> dict:
    return {"private_api_key": FULL_KEY, "revision": NEWEST_REVISION, "list_id": LIST_ID}


EMULATOR = KlaviyoEmulator
