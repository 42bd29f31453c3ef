"""A Braze REST endpoint: /custom_attributes (50 per page, `Link` cursor) and /users/track, per-key permissions.

Shapes follow Braze's docs (braze-inc/braze-docs `_docs/_api/errors.md`: `{"message": <fatal error>, "errors":
[...]}`; 401 unknown or missing key, 403 Forbidden for a rate plan / inactive account, 403 Access Denied for a key
without the endpoint's permission, 404, 429 rate limited). Shaped, not documented: an unknown key's 401 message
echoes the key (as Braze's does, from memory) so tests prove the connector never repeats it, and
`denied_status` 401 plays the older answer to a missing permission.
"""

from __future__ import annotations

import json

from werkzeug.routing import Rule

from .base import Emulator

VALID_KEY = "8a3c2f6e-1b4d-4e5f-9a7b-0c1d2e3f4a5b"
READ_ONLY_KEY = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f"  # custom_attributes.get only
INSTANCE = "https://rest.iad-01.braze.com"
PAGE_SIZE = 50
IDENTIFIERS = ("external_id", "user_alias", "braze_id", "email", "phone")


def custom_attribute(name: str, data_type: str = "String", status: str = "Active") -> dict:
    return {
        "array_length": 100 if data_type == "Array" else None,
        "data_type": data_type,
        "description": f"{name} from the warehouse",
        "name": name,
        "status": status,
        "tag_names": ["cdp"],
    }


class BrazeEmulator(Emulator):
    rules = (
        Rule("/", endpoint="root", methods=["GET", "HEAD"]),
        Rule("/custom_attributes", endpoint="custom_attributes", methods=["GET"], strict_slashes=False),
        Rule("/users/track", endpoint="users_track", methods=["POST"]),
    )

    def reset_state(self) -> None:
        """The vendor state every test starts from (tests share one server and call reset())."""
        self.api_keys = {
            VALID_KEY: {"custom_attributes.get", "users.track"},
            READ_ONLY_KEY: {"custom_attributes.get"},
        }
        self.custom_attributes = [
            custom_attribute("favorite_color"),
            custom_attribute("lifetime_value", "Number"),
            custom_attribute("old_segment", status="Blocklisted"),
        ]
        self.users: dict[str, dict] = {"existing-user": {"first_name": "Ada"}}
        self.denied_status = 403  # the answer to a known key without the endpoint's permission

    # --- vendor behaviour ---------------------------------------------------------------------

    def _authorize(self, request, permission: str):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return self.json({"message": "Unauthorized - Unknown or missing REST API Key."}, 401)
        key = header.removeprefix("Bearer ")
        if key not in self.api_keys:
            return self.json({"message": f"Invalid API key: {key}"}, 401)
        if permission not in self.api_keys[key] and self.denied_status == 401:
            return self.json({"message": "Unauthorized - REST API key lacks permission for this endpoint."}, 401)
        if permission not in self.api_keys[key]:
            return self.json({"message": "Access Denied"}, 403)
        return None

    def on_root(self, request):
        return self.json({"message": "Not Found"}, 404)

    def on_custom_attributes(self, request):
        denied = self._authorize(request, "custom_attributes.get")
        if denied:
            return denied
        start = int(request.args.get("cursor", "0") or 0)
        page = sorted(self.custom_attributes, key=lambda a: a["name"])[start : start + PAGE_SIZE]
        headers = {}
        if start + PAGE_SIZE < len(self.custom_attributes):
            headers["Link"] = f'<{INSTANCE}/custom_attributes/?cursor={start + PAGE_SIZE}>; rel="next"'
        return self.json({"message": "success", "attributes": page}, 200, headers)

    def on_users_track(self, request):
        denied = self._authorize(request, "users.track")
        if denied:
            return denied
        try:
            payload = json.loads(request.get_data() or b"{}")
        except ValueError:
            return self.json({"message": "Bad Request", "errors": ["Invalid JSON"]}, 400)
        attributes = payload.get("attributes") or []
        if len(attributes) > 75:
            return self.json({"message": "Max Input Length Exceeded"}, 400)
        errors = []
        for index, item in enumerate(attributes):
            ids = [k for k in IDENTIFIERS if k in item]
            if len(ids) != 1:
                errors.append({"type": "exactly one identifier required", "index": index})
                continue
            value = item[ids[0]]
            user_id = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            if user_id not in self.users and item.get("_update_existing_only", False):
                continue  # update-only mode: an unknown user is not created
            values = {k: v for k, v in item.items() if k not in IDENTIFIERS and not k.startswith("_")}
            self.users.setdefault(user_id, {}).update(values)
        body = {"message": "success", "attributes_processed": len(attributes) - len(errors)}
        if errors:
            body["errors"] = errors
        return self.json(body, 201)


def valid_config(emulator: BrazeEmulator) -> dict:
    return {"rest_endpoint": INSTANCE, "api_key": VALID_KEY, "identifier_type": "external_id"}


EMULATOR = BrazeEmulator
