"""An Iterable project: /api/users/getFields and /api/lists behind the `Api-Key` header, per key type.

Error bodies use Iterable's `{"msg", "code", "params"}` envelope: 401 BadApiKey "Invalid API key" (recorded),
401 InvalidJwtPayload for a JWT-enabled key without a JWT (recorded), 429 RateLimitExceeded "Exceeded rate
limit." (recorded). A JavaScript/Mobile key calling a server endpoint gets code Forbidden (shaped: the exact
status and wording are not documented).
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
        if kind == "mobile":
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


def valid_config(emulator: IterableEmulator) -> dict:
    return {"api_key": SERVER_KEY, "data_center": "US", "list_id": LIST_ID, "project_type": "email_based"}


EMULATOR = IterableEmulator
