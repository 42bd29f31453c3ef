"""Google OAuth token endpoint + Data Manager API v1 (userLists.get, audienceMembers:ingest) on one host.

Answers with Google's shapes: OAuth errors `{"error", "error_description"}` and API errors as google.rpc.Status
`{"error": {"code", "message", "status", "details": [ErrorInfo, RetryInfo]}}`. Access tokens are checked like
Google does (missing, unknown, expired, missing scope, API not enabled, no access to the account).
"""

from __future__ import annotations

import itertools
import re
import uuid

from werkzeug.routing import Rule

from .base import Emulator
from .oauth_consent import ConsentServer

SCOPE = "https://www.googleapis.com/auth/datamanager"
CLIENT_ID = "123-emu.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-emulator-client-secret"
REFRESH_TOKEN = "1//0emulator-refresh-token"
CUSTOMER_ID = "1234567890"
MANAGER_ID = "9876543210"
USER_LIST_ID = "4455667788"
SHA256_HEX = re.compile("^[0-9a-f]{64}$")


def google_error(http: int, status: str, message: str, reason: str = "", retry_delay: str = "", **metadata) -> dict:
    """A google.rpc.Status body as Google APIs return it."""
    details = []
    if reason:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com"
                if reason.startswith(("ACCESS_TOKEN", "SERVICE", "CREDENTIALS"))
                else "datamanager.googleapis.com",
                "metadata": {"service": "datamanager.googleapis.com", **metadata},
            }
        )
    if retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    body = {"code": http, "message": message, "status": status}
    if details:
        body["details"] = details
    return {"error": body}


UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid "
    "authentication credential."
)
EXPIRED_TOKEN = google_error(401, "UNAUTHENTICATED", UNAUTHENTICATED, "ACCESS_TOKEN_EXPIRED")
SCOPE_INSUFFICIENT = google_error(
    403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
)
SERVICE_DISABLED = google_error(
    403,
    "PERMISSION_DENIED",
    "Data Manager API has not been used in project 123 before or it is disabled.",
    "SERVICE_DISABLED",
    consumer="projects/123",
)
PERMISSION_DENIED = google_error(403, "PERMISSION_DENIED", "The caller does not have permission")
LIST_NOT_FOUND = google_error(404, "NOT_FOUND", "Requested entity was not found.")
INVALID_LIST = google_error(400, "INVALID_ARGUMENT", "The user list is invalid.", "INVALID_USER_LIST_ID")
TERMS_NOT_SIGNED = google_error(
    400, "INVALID_ARGUMENT", "Required terms and conditions are not accepted.", "TERMS_AND_CONDITIONS_NOT_SIGNED"
)
RATE_LIMITED = google_error(
    429,
    "RESOURCE_EXHAUSTED",
    "Quota exceeded for quota metric 'Ingestion requests' of service 'datamanager.googleapis.com'.",
    "RATE_LIMIT_EXCEEDED",
    retry_delay="30s",
    quota_limit="IngestionRequestsPerMinutePerProject",
)
INTERNAL = google_error(500, "INTERNAL", "Internal error encountered.")
INVALID_GRANT = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
INVALID_CLIENT = {"error": "invalid_client", "error_description": "The OAuth client was not found."}


class GoogleAdsEmulator(ConsentServer, Emulator):
    """Also accounts.google.com/o/oauth2/v2/auth (consent; users may untick scopes) and the code exchange."""

    vendor = "Google"
    denial = {"error": "access_denied"}
    rules = (
        Rule("/token", endpoint="token", methods=["POST"]),
        Rule("/o/oauth2/v2/auth", endpoint="authorize", methods=["GET", "POST"]),
        Rule("/v1/accountTypes/<account_type>/accounts/<account_id>/userLists/<list_id>", endpoint="user_list"),
        Rule("/v1/audienceMembers:ingest", endpoint="ingest", methods=["POST"]),
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._counter = itertools.count(1)

    def reset_state(self) -> None:
        self.clients = {CLIENT_ID: CLIENT_SECRET}
        # refresh token -> (client id, granted scopes, revoked)
        self.refresh_tokens = {REFRESH_TOKEN: {"client_id": CLIENT_ID, "scope": SCOPE, "revoked": False}}
        self.access_tokens: dict[str, dict] = {}
        self.issue_expired_tokens = False  # tokens are already expired when used (a skewed clock, say)
        self.service_enabled = True
        self.accessible_accounts = {CUSTOMER_ID, MANAGER_ID}  # where the Google user is a user
        self.managed = {MANAGER_ID: {CUSTOMER_ID}}
        self.user_lists = {
            (CUSTOMER_ID, USER_LIST_ID): {
                "name": f"accountTypes/GOOGLE_ADS/accounts/{CUSTOMER_ID}/userLists/{USER_LIST_ID}",
                "id": USER_LIST_ID,
                "readOnly": False,
                "displayName": "CDP customers",
                "membershipStatus": "OPEN",
                "membershipDuration": "2592000s",
                "ingestedUserListInfo": {"uploadKeyTypes": ["CONTACT_ID"]},
            }
        }
        self.ingested: list[dict] = []  # real (non-validateOnly) uploads; a connection test must leave it empty
        self.reset_consent(CLIENT_ID)
        self.refresh_token_lifetime: int | None = None  # set: time-based access, answered as refresh_token_expires_in

    # --- OAuth --------------------------------------------------------------------------------

    def on_token(self, request):
        form = request.form
        if self.clients.get(form.get("client_id")) != form.get("client_secret"):
            return self.json(INVALID_CLIENT, 401)
        if form.get("grant_type") == "authorization_code":
            return self._code_token(form)
        if form.get("grant_type") != "refresh_token":
            return self.json({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, 400)
        grant = self.refresh_tokens.get(form.get("refresh_token", ""))
        if grant is None:
            return self.json({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
        if grant["revoked"]:
            return self.json(INVALID_GRANT, 400)
        if grant["client_id"] != form.get("client_id"):
            return self.json({"error": "unauthorized_client", "error_description": "Unauthorized"}, 400)
        token = f"ya29.emu-{next(self._counter)}"
        self.access_tokens[token] = {"scope": grant["scope"], "expired": self.issue_expired_tokens}
        return self.json({"access_token": token, "expires_in": 3599, "scope": grant["scope"], "token_type": "Bearer"})

    def _code_token(self, form):
        grant, why = self.take_code(form)
        if grant is None:
            if why == "redirect_uri_mismatch":
                return self.json({"error": "redirect_uri_mismatch", "error_description": "Bad Request"}, 400)
            description = "Missing code verifier." if why == "invalid_code_verifier" else "Malformed auth code."
            return self.json({"error": "invalid_grant", "error_description": description}, 400)
        scope = " ".join(grant["scopes"])
        refresh_token = f"1//0emu-{next(self._counter)}"
        self.refresh_tokens[refresh_token] = {"client_id": grant["client_id"], "scope": scope, "revoked": False}
        token = f"ya29.emu-{next(self._counter)}"
        self.access_tokens[token] = {"scope": scope, "expired": False}
        answer = {
            "access_token": token,
            "expires_in": 3599,
            "refresh_token": refresh_token,
            "scope": scope,
            "token_type": "Bearer",
        }
        if self.refresh_token_lifetime:
            answer["refresh_token_expires_in"] = self.refresh_token_lifetime
        return self.json(answer)

    # --- Data Manager API ---------------------------------------------------------------------

    def _authorize(self, request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return self.json(
                google_error(
                    401,
                    "UNAUTHENTICATED",
                    "Request is missing required authentication credential.",
                    "CREDENTIALS_MISSING",
                ),
                401,
            )
        token = self.access_tokens.get(header[len("Bearer ") :])
        if token is None:
            return self.json(google_error(401, "UNAUTHENTICATED", UNAUTHENTICATED), 401)
        if token["expired"]:
            return self.json(EXPIRED_TOKEN, 401)
        if SCOPE not in token["scope"].split():
            return self.json(SCOPE_INSUFFICIENT, 403)
        if not self.service_enabled:
            return self.json(SERVICE_DISABLED, 403)
        return None

    def _can_reach(self, account_id: str, login_id: str | None) -> bool:
        if login_id:
            return login_id in self.accessible_accounts and (
                account_id == login_id or account_id in self.managed.get(login_id, set())
            )
        return account_id in self.accessible_accounts

    def on_user_list(self, request, account_type, account_id, list_id):
        denied = self._authorize(request)
        if denied:
            return denied
        login = request.headers.get("login-account", "")
        login_id = login.rsplit("/", 1)[-1] if login else None
        if account_type != "GOOGLE_ADS" or not self._can_reach(account_id, login_id):
            return self.json(PERMISSION_DENIED, 403)
        user_list = self.user_lists.get((account_id, list_id))
        if user_list is None:
            return self.json(LIST_NOT_FOUND, 404)
        return self.json(user_list)

    def on_ingest(self, request):
        denied = self._authorize(request)
        if denied:
            return denied
        body = request.get_json(silent=True) or {}
        destinations = body.get("destinations") or []
        members = body.get("audienceMembers") or []
        if len(destinations) != 1 or not members:
            return self.json(
                google_error(
                    400, "INVALID_ARGUMENT", "Request contains an invalid argument.", "REQUIRED_FIELD_MISSING"
                ),
                400,
            )
        destination = destinations[0]
        operating = destination.get("operatingAccount") or {}
        login_id = (destination.get("loginAccount") or {}).get("accountId")
        if operating.get("accountType") != "GOOGLE_ADS":
            return self.json(
                google_error(400, "INVALID_ARGUMENT", "The destination is invalid.", "INVALID_DESTINATION"), 400
            )
        if not self._can_reach(str(operating.get("accountId")), login_id):
            return self.json(PERMISSION_DENIED, 403)
        if (str(operating.get("accountId")), str(destination.get("productDestinationId"))) not in self.user_lists:
            return self.json(INVALID_LIST, 400)
        if body.get("encoding") != "HEX":
            return self.json(
                google_error(
                    400, "INVALID_ARGUMENT", "Encoding is required for UserData uploads.", "INVALID_ENUM_VALUE"
                ),
                400,
            )
        for member in members:
            for identifier in (member.get("userData") or {}).get("userIdentifiers", []):
                for value in identifier.values():
                    if isinstance(value, str) and not SHA256_HEX.match(value):
                        return self.json(
                            google_error(400, "INVALID_ARGUMENT", "Malformed SHA256 value.", "INVALID_SHA256_FORMAT"),
                            400,
                        )
        if not body.get("validateOnly"):
            self.ingested.append(body)
        return self.json({"requestId": str(uuid.uuid4())})


EMULATOR = GoogleAdsEmulator


def valid_config(emulator: GoogleAdsEmulator) -> dict:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "customer_id": CUSTOMER_ID,
        "user_list_id": USER_LIST_ID,
    }
