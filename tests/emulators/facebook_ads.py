"""Meta Graph API (Marketing API) for custom audiences: /me, /me/permissions, /act_<id>, /<audience id>.

Answers with Graph's shapes: objects as JSON, errors as `{"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}` (HTTP 400 for OAuth and parameter errors, like Graph). The token is read from the
Authorization header or the access_token parameter, and appsecret_proof is verified like an app with
"Require app secret" does.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from werkzeug.routing import Rule

from .base import Emulator

ACCESS_TOKEN = "EAAGm0PX4ZCpsBAemulatorSystemUserToken"
APP_SECRET = "0123456789abcdef0123456789abcdef"
APP_ID = "987654321012345"
AD_ACCOUNT_ID = "1122334455"
AUDIENCE_ID = "23850000000000001"
SYSTEM_USER = {"id": "100000000000001", "name": "CDP Sync (system user)"}
SUPPORTED_VERSIONS = {"v25.0", "v26.0", "v27.0"}
SIGNED = {"custom_audience_tos": 1}  # tos_accepted / user_tos_accepted once the Custom Audience terms are signed


def graph_error(message: str, code: int, subcode: int | None = None, type: str = "OAuthException", **extra) -> dict:
    error = {"message": message, "type": type, "code": code, "fbtrace_id": uuid.uuid4().hex[:11], **extra}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


INVALID_TOKEN = graph_error("Invalid OAuth access token - Cannot parse access token", 190)
EXPIRED_TOKEN = graph_error(
    "Error validating access token: Session has expired on Tuesday, 24-Nov-26 10:00:00 PST.", 190, 463
)
NO_TOKEN = graph_error("An active access token must be used to query information about the current user.", 2500)
BAD_PROOF = graph_error("Invalid appsecret_proof provided in the API argument", 100, type="GraphMethodException")
PERMISSION_ERROR = graph_error("(#200) Requires ads_management permission to manage the object", 200)
UNKNOWN_OBJECT = graph_error(
    "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, "
    "or does not support this operation.",
    100,
    33,
    type="GraphMethodException",
)
UPLOAD_BLOCKED = graph_error("Audience Upload Blocked", 100, 1713230, type="OAuthException")
USER_RATE_LIMIT = graph_error("(#17) User request limit reached", 17, 2446079, is_transient=True)
ACCOUNT_RATE_LIMIT = graph_error(
    "(#613) There have been too many calls from this ad-account. Please wait a bit and try again.", 613, 1487742
)
TRANSIENT = graph_error("An unexpected error has occurred. Please retry your request later.", 2, is_transient=True)
DEPRECATED_VERSION = graph_error(
    "(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: v27.0.", 2635
)
TERMS_NOT_ACCEPTED = graph_error("(#2655) Terms of service has not been accepted", 2655)


class FacebookAdsEmulator(Emulator):
    rules = (
        Rule("/<version>/me", endpoint="me"),
        Rule("/<version>/debug_token", endpoint="debug_token"),
        Rule("/<version>/me/permissions", endpoint="permissions"),
        Rule("/<version>/act_<account_id>", endpoint="ad_account"),
        Rule("/<version>/<node_id>", endpoint="audience"),
        Rule("/<version>/<node_id>/users", endpoint="users", methods=["POST", "DELETE"]),
    )

    def reset_state(self) -> None:
        self.tokens = {
            ACCESS_TOKEN: {
                "user": dict(SYSTEM_USER),
                "permissions": {"ads_management": "granted", "business_management": "granted"},
                "expired": False,
                "accounts": {AD_ACCOUNT_ID},
                "tos_accepted": dict(SIGNED),  # the Custom Audience terms this user signed for the business
                # debug_token: a system-user token by default, which never expires (no positive date)
                "type": "SYSTEM_USER",
                "expires_at": 0,
                "data_access_expires_at": 0,
            }
        }
        self.app_secret = APP_SECRET
        self.require_app_secret = False
        self.ad_accounts = {
            AD_ACCOUNT_ID: {
                "id": f"act_{AD_ACCOUNT_ID}",
                "name": "CDP Ads",
                "account_status": 1,
                "currency": "EUR",
                "tos_accepted": dict(SIGNED),
            }
        }
        self.audiences = {
            AUDIENCE_ID: {
                "id": AUDIENCE_ID,
                "name": "CDP high-value customers",
                "account_id": AD_ACCOUNT_ID,
                "subtype": "CUSTOM",
                "is_value_based": False,  # created with is_value_based=1: still CUSTOM, uploads need LOOKALIKE_VALUE
                "operation_status": {"code": 200, "description": "Normal"},
                "delivery_status": {"code": 200, "description": "This audience is ready for use."},
                "approximate_count_lower_bound": 1000,
                "permission_for_actions": {"can_edit": True, "can_see_insight": "True", "can_share": "True"},
            }
        }
        self.uploads: list[dict] = []  # POST/DELETE /<audience>/users; a connection test must leave it empty

    # --- auth ---------------------------------------------------------------------------------

    def _authorize(self, request, version):
        if version not in SUPPORTED_VERSIONS:
            return None, self.json(DEPRECATED_VERSION, 400)
        header = request.headers.get("Authorization", "")
        value = header[len("Bearer ") :] if header.startswith("Bearer ") else request.args.get("access_token", "")
        if not value:
            return None, self.json(NO_TOKEN, 400)
        token = self.tokens.get(value)
        if token is None:
            return None, self.json(INVALID_TOKEN, 400)
        if token["expired"]:
            return None, self.json(EXPIRED_TOKEN, 400)
        proof = request.args.get("appsecret_proof")
        expected = hmac.new(self.app_secret.encode(), value.encode(), hashlib.sha256).hexdigest()
        if (proof or self.require_app_secret) and proof != expected:
            return None, self.json(BAD_PROOF, 400)
        return token, None

    def _fields(self, request, obj: dict) -> dict:
        wanted = [f for f in request.args.get("fields", "id").split(",") if f]
        return {name: obj[name] for name in wanted if name in obj}

    # --- endpoints ----------------------------------------------------------------------------

    def on_me(self, request, version):
        token, denied = self._authorize(request, version)
        return denied or self.json(self._fields(request, token["user"]))

    def on_debug_token(self, request, version):
        """GET /debug_token?input_token=…, called with a valid token of the same app (the debugging guide)."""
        _caller, denied = self._authorize(request, version)
        if denied:
            return denied
        inspected = self.tokens.get(request.args.get("input_token", ""))
        if inspected is None:
            return self.json({"data": {"is_valid": False, "error": {"code": 190, "message": "Invalid token"}}})
        data = {
            "app_id": APP_ID,
            "type": inspected["type"],
            "application": "CDP Sync",
            "expires_at": inspected["expires_at"],
            "data_access_expires_at": inspected["data_access_expires_at"],
            "is_valid": not inspected["expired"],
            "scopes": [name for name, status in inspected["permissions"].items() if status == "granted"],
            "user_id": inspected["user"]["id"],
        }
        return self.json({"data": data})

    def on_permissions(self, request, version):
        token, denied = self._authorize(request, version)
        if denied:
            return denied
        data = [{"permission": name, "status": status} for name, status in token["permissions"].items()]
        return self.json({"data": data})

    def on_ad_account(self, request, version, account_id):
        token, denied = self._authorize(request, version)
        if denied:
            return denied
        account = self.ad_accounts.get(account_id)
        if account is None or account_id not in token["accounts"]:
            return self.json(self._unknown(f"act_{account_id}"), 400)
        if token["permissions"].get("ads_management") != "granted" and "ads_read" not in token["permissions"]:
            return self.json(PERMISSION_ERROR, 400)
        return self.json(self._fields(request, {**account, "user_tos_accepted": token["tos_accepted"]}))

    def on_audience(self, request, version, node_id):
        token, denied = self._authorize(request, version)
        if denied:
            return denied
        audience = self.audiences.get(node_id)
        if audience is None or audience["account_id"] not in token["accounts"]:
            return self.json(self._unknown(node_id), 400)
        return self.json(self._fields(request, audience))

    def on_users(self, request, version, node_id):
        token, denied = self._authorize(request, version)
        if denied:
            return denied
        if node_id not in self.audiences:
            return self.json(self._unknown(node_id), 400)
        if token["tos_accepted"].get("custom_audience_tos") != 1:
            return self.json(TERMS_NOT_ACCEPTED, 400)
        self.uploads.append({"method": request.method, "audience": node_id, "form": request.form.to_dict()})
        return self.json({"audience_id": node_id, "num_received": 1, "num_invalid_entries": 0})

    @staticmethod
    def _unknown(object_id: str) -> dict:
        return graph_error(UNKNOWN_OBJECT["error"]["message"].format(id=object_id), 100, 33, "GraphMethodException")


EMULATOR = FacebookAdsEmulator


def valid_config(emulator: FacebookAdsEmulator) -> dict:
    return {"access_token": ACCESS_TOKEN, "ad_account_id": AD_ACCOUNT_ID, "audience_id": AUDIENCE_ID}
