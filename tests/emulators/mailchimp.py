"""One Mailchimp data center (Marketing API 3.0): /ping, the API root, audiences and their merge fields.

Auth as Mailchimp does it: HTTP Basic with any user name and the API key as password (or an OAuth Bearer
token); the key's -<dc> suffix must be this data center's. Errors are problem-details JSON
`{"type", "title", "status", "detail", "instance"}` with Mailchimp's titles (API Key Missing / Invalid,
User Disabled, Resource Not Found, Too Many Requests, …). Mailchimp sends no rate-limit headers.
"""

from __future__ import annotations

import base64
import uuid

from werkzeug.routing import Rule

from .base import Emulator

DATA_CENTER = "us19"
API_KEY = f"0123456789abcdef0123456789abcdef-{DATA_CENTER}"
DISABLED_USER_KEY = f"fedcba9876543210fedcba9876543210-{DATA_CENTER}"
LIST_ID = "1a2b3c4d5e"
ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"


def problem(status: int, title: str, detail: str) -> dict:
    return {"type": ERRORS_DOC, "title": title, "status": status, "detail": detail, "instance": str(uuid.uuid4())}


def merge_field(merge_id: int, tag: str, name: str, kind: str = "text", required: bool = False, **options) -> dict:
    return {
        "merge_id": merge_id,
        "tag": tag,
        "name": name,
        "type": kind,
        "required": required,
        "default_value": "",
        "public": True,
        "display_order": merge_id + 1,
        "options": options,
        "help_text": "",
        "list_id": LIST_ID,
    }


class MailchimpEmulator(Emulator):
    rules = (
        Rule("/3.0/ping", endpoint="ping", methods=["GET"]),
        Rule("/3.0/", endpoint="root", methods=["GET"]),
        Rule("/3.0/lists/<list_id>", endpoint="list", methods=["GET"]),
        Rule("/3.0/lists/<list_id>/merge-fields", endpoint="merge_fields", methods=["GET"]),
    )

    def reset_state(self) -> None:
        """The vendor state every test starts from (tests share one server and call reset())."""
        self.api_keys = {API_KEY: "active", DISABLED_USER_KEY: "disabled"}
        self.oauth_tokens: set[str] = set()
        self.lists = {LIST_ID: {"name": "Customers", "double_optin": False, "member_count": 1234}}
        self.merge_fields = {
            LIST_ID: [
                merge_field(1, "FNAME", "First Name", size=25),
                merge_field(2, "LNAME", "Last Name", size=25),
                merge_field(3, "ADDRESS", "Address", "address", default_country=164),
                merge_field(4, "PHONE", "Phone Number", "phone", phone_format="none"),
                merge_field(5, "BIRTHDAY", "Birthday", "birthday", date_format="MM/DD"),
                merge_field(6, "TIER", "Tier", "dropdown", required=True, choices=["Gold", "Silver"]),
                merge_field(7, "LTV", "Lifetime value", "number"),
            ]
        }

    def _authorize(self, request):
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "bearer" and credential in self.oauth_tokens:
            return None
        key = ""
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(credential).decode().partition(":")[2]
            except ValueError:
                key = ""
        if not key and scheme.lower() != "bearer":
            return self.json(problem(401, "API Key Missing", "Your request did not include an API key."), 401)
        if self.api_keys.get(key) is None or not key.endswith(f"-{DATA_CENTER}"):
            return self.json(
                problem(
                    401,
                    "API Key Invalid",
                    "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
                ),
                401,
            )
        if self.api_keys[key] == "disabled":
            return self.json(problem(403, "User Disabled", "This account has been disabled."), 403)
        return None

    def _find_list(self, list_id):
        if list_id not in self.lists:
            return self.json(problem(404, "Resource Not Found", "The requested resource could not be found."), 404)
        return None

    def on_ping(self, request):
        return self._authorize(request) or self.json({"health_status": "Everything's Chimpy!"})

    def on_root(self, request):
        return self._authorize(request) or self.json(
            {
                "account_id": "8d3a3db4d97663a9074efcc16",
                "login_id": "12345",
                "account_name": "Acme Inc.",
                "email": "owner@acme.example",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "role": "owner",
                "pricing_plan_type": "monthly",
                "account_timezone": "America/New_York",
                "total_subscribers": 1234,
            }
        )

    def on_list(self, request, list_id):
        denied = self._authorize(request) or self._find_list(list_id)
        if denied:
            return denied
        audience = self.lists[list_id]
        return self.json(
            {
                "id": list_id,
                "web_id": 42,
                "name": audience["name"],
                "double_optin": audience["double_optin"],
                "stats": {"member_count": audience["member_count"]},
            }
        )

    def on_merge_fields(self, request, list_id):
        denied = self._authorize(request) or self._find_list(list_id)
        if denied:
            return denied
        count = min(int(request.args.get("count", 10)), 1000)
        offset = int(request.args.get("offset", 0))
        fields = self.merge_fields.get(list_id, [])
        return self.json(
            {"merge_fields": fields[offset : offset + count], "list_id": list_id, "total_items": len(fields)}
        )


def valid_config(emulator: MailchimpEmulator) -> dict:
    return {"api_key": API_KEY, "list_id": LIST_ID, "status_if_new": "subscribed"}


EMULATOR = MailchimpEmulator
