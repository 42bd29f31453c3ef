"""An Iterable project: getFields, lists, users/bulkUpdate and lists/subscribe behind the `Api-Key` header.

Each key type may call only the endpoints Iterable's API-keys article lists for it
(support.iterable.com/hc/en-us/articles/360043464871-API-Keys: read-only keys GET /api/lists and
/api/users/getFields among others, Mobile keys POST /api/users/update and a few event endpoints, server-side keys
everything), and that gate is passed before a request's body is read (shaped: the article gives the lists, not
the order). Error bodies use Iterable's `{"msg", "code",
"params"}` envelope: 401 BadApiKey "Invalid API key" (recorded), 401 InvalidJwtPayload for a JWT-enabled key
without a JWT (recorded), 429 RateLimitExceeded "Exceeded rate limit." (recorded). A key calling an endpoint its
type may not gets 401 code Forbidden (shaped: the exact status and wording are not documented), and an empty
bulkUpdate or subscribe gets 400 BadParams (shaped).
"""

from __future__ import annotations

from werkzeug.routing import Rule

from .base import Emulator

SERVER_KEY = "5f1e2d3c4b5a69788796a5b4c3d2e1f0"
READ_ONLY_KEY = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
MOBILE_KEY = "99887766554433221100ffeeddccbbaa"
JWT_KEY = "abcdefabcdefabcdefabcdefabcdef12"
LIST_ID = 1234


class IterableEmulator(Emulator):
    rules = (
        Rule("/", endpoint="root", methods=["GET", "HEAD"]),
        Rule("/api/users/getFields", endpoint="get_fields", methods=["GET"]),
        Rule("/api/lists", endpoint="lists", methods=["GET"]),
        Rule("/api/users/bulkUpdate", endpoint="bulk_update", methods=["POST"]),
        Rule("/api/lists/subscribe", endpoint="subscribe", methods=["POST"]),
    )

    def reset_state(self) -> None:
        """The vendor state every test starts from (tests share one server and call reset())."""
        self.api_keys = {SERVER_KEY: "server_side", READ_ONLY_KEY: "read_only", MOBILE_KEY: "mobile", JWT_KEY: "jwt"}
        self.fields = {
            "email": "string",
            "userId": "string",
            "firstName": "string",
            "lifetimeValue": "double",
            "orderCount": "long",
            "vip": "boolean",
            "lastOrderAt": "date",
            "address.city": "string",
            "emailListIds": "long",
            "devices.token": "string",
            "phoneNumberDetails.updatedAt": "date",
        }
        # What each key type may call, from Iterable's API-keys article (abridged to the endpoints emulated here).
        self.allowed = {
            "read_only": {"GET /api/lists", "GET /api/users/getFields"},
            "mobile": {"POST /api/users/update"},
        }
        self.updated: list[dict] = []  # users written; a connection test leaves it empty
        self.subscribed: list[dict] = []
        self.lists = [
            {"id": LIST_ID, "name": "Newsletter", "createdAt": 1700000000000, "listType": "Standard"},
            {"id": 5678, "name": "High value", "createdAt": 1700000000000, "listType": "Dynamic"},
        ]

    def _authorize(self, request):
        key = request.headers.get("Api-Key", "")
        kind = self.api_keys.get(key)
        params = {"ip": request.remote_addr, "endpoint": request.path}
        if kind is None:
            return self.json({"msg": "Invalid API key", "code": "BadApiKey", "params": params}, 401)
        if kind == "jwt":
            return self.json({"msg": "JWT token is missing", "code": "InvalidJwtPayload", "params": params}, 401)
        if kind in self.allowed and f"{request.method} {request.path}" not in self.allowed[kind]:
            return self.json(
                {"msg": "API key type not allowed for this endpoint", "code": "Forbidden", "params": params}, 401
            )
        return None

    def on_root(self, request):
        return self.json({"msg": "Not found", "code": "NotFound", "params": None}, 404)

    def on_get_fields(self, request):
        return self._authorize(request) or self.json({"fields": self.fields})

    def on_lists(self, request):
        return self._authorize(request) or self.json({"lists": self.lists})

    def on_bulk_update(self, request):
        denied = self._authorize(request)
        if denied:
            return denied
        users = (request.get_json(silent=True) or {}).get("users") or []
        if not users:
            return self.bad_params("users: must not be empty")
        self.updated.extend(users)
        return self.json({"successCount": len(users), "failCount": 0})

    def on_subscribe(self, request):
        denied = self._authorize(request)
        if denied:
            return denied
        body = request.get_json(silent=True) or {}
        subscribers = body.get("subscribers") or []
        if not subscribers:
            return self.bad_params("subscribers: must not be empty")
        self.subscribed.extend(subscribers)
        return self.json({"successCount": len(subscribers), "failCount": 0})

    def bad_params(self, message: str):
        return self.json({"msg": message, "code": "BadParams", "params": None}, 400)


def valid_config(emulator: IterableEmulator) -> dict:
    return {"api_key": SERVER_KEY, "data_center": "US", "list_id": LIST_ID, "project_type": "email_based"}


EMULATOR = IterableEmulator
