"""LinkedIn OAuth (introspectToken, accessToken refresh) and Marketing API (adAccountUsers, dmpSegments) on one host.

OAuth errors are `{"error", "error_description"}`; API errors are `{"status", "serviceErrorCode", "code",
"message"}` like LinkedIn's. API calls must carry `Authorization: Bearer`, an active `LinkedIn-Version` and
`X-Restli-Protocol-Version: 2.0.0`; scopes and the member's ad-account role are enforced.
"""

from __future__ import annotations

import itertools
import time

from werkzeug.routing import Rule

from .base import Emulator
from .oauth_consent import ConsentServer

CLIENT_ID = "86emulatorclient"
CLIENT_SECRET = "WPL_AP1.emulator-client-secret"
ACCESS_TOKEN = "AQVemulator-member-access-token"
REFRESH_TOKEN = "AQWemulator-member-refresh-token"
AD_ACCOUNT_ID = "508000001"
SEGMENT_ID = "7123456"
MEMBER = "urn:li:person:emuMember1"
SCOPES = "r_ads,rw_dmp_segments"
ACTIVE_VERSIONS = {"202601", "202603", "202605", "202607"}


def linkedin_error(status: int, message: str, code: str = "", service_code: int | None = None) -> dict:
    body = {"status": status, "message": message}
    if code:
        body["code"] = code
    if service_code is not None:
        body["serviceErrorCode"] = service_code
    return body


INVALID_TOKEN = linkedin_error(401, "Invalid access token", "INVALID_ACCESS_TOKEN", 65600)
REVOKED_TOKEN = linkedin_error(
    401, "The token used in the request has been revoked by the user", "REVOKED_ACCESS_TOKEN", 65601
)
EXPIRED_TOKEN = linkedin_error(401, "The token used in the request has expired", "EXPIRED_ACCESS_TOKEN", 65602)
RATE_LIMITED = linkedin_error(
    429,
    "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
    "TOO_MANY_REQUESTS",
    101,
)
SERVER_ERROR = linkedin_error(500, "Internal Server Error", "INTERNAL_SERVER_ERROR")
NOT_FOUND = linkedin_error(404, "Not Found", "NOT_FOUND")


def access_denied(resource: str) -> dict:
    return linkedin_error(403, f"Not enough permissions to access: {resource}", "ACCESS_DENIED", 100)


class LinkedInAdsEmulator(ConsentServer, Emulator):
    """Also www.linkedin.com/oauth/v2/authorization (consent) and the authorization_code grant at accessToken."""

    vendor = "LinkedIn"
    denial = {"error": "user_cancelled_authorize", "error_description": "The user cancelled the authorization"}
    rules = (
        Rule("/oauth/v2/authorization", endpoint="authorize", methods=["GET", "POST"]),
        Rule("/oauth/v2/introspectToken", endpoint="introspect", methods=["POST"]),
        Rule("/oauth/v2/accessToken", endpoint="access_token", methods=["POST"]),
        Rule("/rest/adAccountUsers", endpoint="ad_account_users"),
        Rule("/rest/dmpSegments/<segment_id>", endpoint="segment"),
        Rule("/rest/dmpSegments/<segment_id>/users", endpoint="segment_users", methods=["POST"]),
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._counter = itertools.count(1)

    def reset_state(self) -> None:
        now = int(time.time())
        self.clients = {CLIENT_ID: CLIENT_SECRET}
        self.tokens = {
            ACCESS_TOKEN: {
                "status": "active",
                "scope": SCOPES,
                "auth_type": "3L",
                "member": MEMBER,
                "created_at": now - 86400,
                "expires_at": now + 59 * 86400,
            },
        }
        self.refresh_tokens = {REFRESH_TOKEN: {"status": "active", "scope": SCOPES, "member": MEMBER}}
        self.roles = {MEMBER: [{"account": f"urn:li:sponsoredAccount:{AD_ACCOUNT_ID}", "role": "CAMPAIGN_MANAGER"}]}
        self.segments = {
            SEGMENT_ID: {
                "id": int(SEGMENT_ID),
                "name": "CDP streaming users",
                "account": f"urn:li:sponsoredAccount:{AD_ACCOUNT_ID}",
                "accessPolicy": "PRIVATE",
                "type": "USER",
                "sourcePlatform": "STREAMING",
                # The status lives on each destination (the Matched Audiences FAQ: "check the status value from
                # destinations object"); the segment itself carries none.
                "destinations": [{"destination": "LINKEDIN", "status": "READY", "audienceSize": 4500}],
            }
        }
        self.uploads: list[dict] = []  # BATCH_CREATE on /users; a connection test must leave it empty
        self.reset_consent(CLIENT_ID)

    # --- OAuth --------------------------------------------------------------------------------

    def _client_ok(self, form) -> bool:
        return self.clients.get(form.get("client_id")) == form.get("client_secret")

    def on_introspect(self, request):
        """LinkedIn documents the answers: 200 Success, 400 "Invalid client id or token", 401 "Invalid client
        secret" (token-introspection page, Response codes)."""
        form = request.form
        token = self.tokens.get(form.get("token", ""))
        if form.get("client_id") not in self.clients or token is None:
            return self.json({"error": "invalid_request", "error_description": "Invalid client id or token"}, 400)
        if not self._client_ok(form):
            return self.json({"error": "invalid_client", "error_description": "Client authentication failed"}, 401)
        body = {
            "active": token["status"] == "active",
            "client_id": form["client_id"],
            "authorized_at": token["created_at"],
            "created_at": token["created_at"],
            "status": token["status"],
            "expires_at": token["expires_at"],
            "scope": token["scope"],
            "auth_type": token["auth_type"],
        }
        return self.json(body)

    def on_access_token(self, request):
        form = request.form
        if not self._client_ok(form):
            return self.json({"error": "invalid_client", "error_description": "Client authentication failed"}, 401)
        if form.get("grant_type") == "authorization_code":
            return self._code_token(form)
        if form.get("grant_type") != "refresh_token":
            return self.json({"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}, 400)
        grant = self.refresh_tokens.get(form.get("refresh_token", ""))
        if grant is None or grant["status"] != "active":
            return self.json(
                {
                    "error": "invalid_request",
                    "error_description": "The provided authorization grant or refresh token is invalid, expired or "
                    "revoked",
                },
                400,
            )
        now = int(time.time())
        token = f"AQVrefreshed-{next(self._counter)}"
        self.tokens[token] = {
            "status": "active",
            "scope": grant["scope"],
            "auth_type": "3L",
            "member": grant["member"],
            "created_at": now,
            "expires_at": now + 60 * 86400,
        }
        return self.json(
            {
                "access_token": token,
                "expires_in": 5183999,
                "refresh_token": form["refresh_token"],
                "refresh_token_expires_in": 31000000,
                "scope": grant["scope"],
            }
        )

    def _code_token(self, form):
        grant, _why = self.take_code(form)
        if grant is None:
            description = (
                "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization "
                "code. Or authorization code expired. Or external member binding exists"
            )
            return self.json({"error": "invalid_request", "error_description": description}, 400)
        now = int(time.time())
        scope = ",".join(grant["scopes"])
        token, refresh_token = f"AQVcode-{next(self._counter)}", f"AQWcode-{next(self._counter)}"
        self.tokens[token] = {
            "status": "active",
            "scope": scope,
            "auth_type": "3L",
            "member": MEMBER,
            "created_at": now,
            "expires_at": now + 60 * 86400,
        }
        self.refresh_tokens[refresh_token] = {"status": "active", "scope": scope, "member": MEMBER}
        return self.json(
            {
                "access_token": token,
                "expires_in": 5184000,
                "refresh_token": refresh_token,
                "refresh_token_expires_in": 31536000,
                "scope": scope,
            }
        )

    # --- Marketing API ------------------------------------------------------------------------

    def _authorize(self, request, needs: tuple[str, ...], resource: str):
        header = request.headers.get("Authorization", "")
        token = self.tokens.get(header[len("Bearer ") :]) if header.startswith("Bearer ") else None
        if token is None:
            return None, self.json(INVALID_TOKEN, 401)
        if token["status"] == "expired":
            return None, self.json(EXPIRED_TOKEN, 401)
        if token["status"] == "revoked":
            return None, self.json(REVOKED_TOKEN, 401)
        version = request.headers.get("LinkedIn-Version")
        if not version:
            return None, self.json(
                linkedin_error(
                    400,
                    "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
                    "VERSION_MISSING",
                ),
                400,
            )
        if version not in ACTIVE_VERSIONS:
            return None, self.json(
                linkedin_error(426, f"Requested version {version} is not active", "NONEXISTENT_VERSION"), 426
            )
        if request.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            return None, self.json(linkedin_error(400, "Restli protocol version 2.0.0 is required."), 400)
        if not any(scope in token["scope"].split(",") for scope in needs):
            return None, self.json(access_denied(resource), 403)
        return token, None

    def on_ad_account_users(self, request):
        token, denied = self._authorize(request, ("r_ads", "rw_ads"), "adAccountUsers.FINDER-authenticatedUser")
        if denied:
            return denied
        if request.args.get("q") != "authenticatedUser":
            return self.json(linkedin_error(400, "Invalid finder", "ILLEGAL_ARGUMENT"), 400)
        elements = [{**entry, "user": token["member"]} for entry in self.roles.get(token["member"], [])]
        start, count = int(request.args.get("start", 0)), int(request.args.get("count", 10))
        page = elements[start : start + count]
        return self.json({"paging": {"start": start, "count": count, "total": len(elements)}, "elements": page})

    def on_segment(self, request, segment_id):
        token, denied = self._authorize(request, ("rw_dmp_segments",), f"dmpSegments.GET.{segment_id}")
        if denied:
            return denied
        segment = self.segments.get(segment_id)
        if segment is None:
            return self.json(NOT_FOUND, 404)
        if segment["account"] not in {entry["account"] for entry in self.roles.get(token["member"], [])}:
            return self.json(access_denied(f"dmpSegments.GET.{segment_id}"), 403)
        return self.json(segment)

    def on_segment_users(self, request, segment_id):
        _token, denied = self._authorize(request, ("rw_dmp_segments",), f"dmpSegmentUsers.BATCH_CREATE.{segment_id}")
        if denied:
            return denied
        self.uploads.append({"segment": segment_id, "body": request.get_json(silent=True)})
        return self.json({"elements": []})


EMULATOR = LinkedInAdsEmulator


def valid_config(emulator: LinkedInAdsEmulator) -> dict:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "access_token": ACCESS_TOKEN,
        "ad_account_id": AD_ACCOUNT_ID,
        "segment_id": SEGMENT_ID,
    }
