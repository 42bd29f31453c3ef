"""Google service-account authentication and JSON-API error mapping, shared by BigQuery and Cloud Storage.

The key file's JWT-bearer exchange goes through google-auth (it builds and signs the assertion) with a
transport bound to the guarded session (`self.http`), so the token endpoint is reached under the same
SSRF guard, timeouts and transport-error mapping as every other call. The token URL is the key file's
`token_uri` (an emulator or sandbox can serve it); API hosts go through `vendor_url()`.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import urlsplit

import google.auth.exceptions
import google.auth.transport
import google.auth.transport.requests
import requests
from cryptography.hazmat.primitives import serialization
from google.oauth2 import service_account

from .runtime.base import Connector, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.http import OutboundClient
from .runtime.schema import secret
from .runtime.vendor import ErrorTable, Rule

SERVICE_ACCOUNT_FIELD = "service_account_json"
REQUIRED_KEY_FIELDS = ("client_email", "private_key", "token_uri")
# The shape of a downloaded key file, for documentation (its private key is elided: paste the whole file).
EXAMPLE_SERVICE_ACCOUNT_JSON = json.dumps(
    {
        "type": "service_account",
        "project_id": "my-project-123",
        "private_key": "-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----\n",
        "client_email": "destinations@my-project-123.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
)
DEFAULT_UNIVERSE = "googleapis.com"


def service_account_property() -> dict:
    return secret(
        "The service account's JSON key file, pasted whole (type, project_id, private_key_id, private_key, "
        "client_email, token_uri). Encrypted at rest and never shown again.",
        contentMediaType="application/json",
    )


def service_account_problems(raw: Any) -> list[str]:
    """What is wrong with a pasted key file, without quoting any of it; [] when it is usable."""
    if raw in (None, ""):
        return []  # absence is the schema's business (a shared connection may supply it)
    if isinstance(raw, str):
        try:
            info = json.loads(raw)
        except ValueError:
            return ["Must be the service account's JSON key file; this is not valid JSON."]
    else:
        info = raw
    if not isinstance(info, dict):
        return ["Must be the service account's JSON key file (a JSON object)."]
    problems = []
    if info.get("type") != "service_account":
        problems.append('The key file\'s "type" must be "service_account" (create a key for a service account).')
    missing = [name for name in REQUIRED_KEY_FIELDS if not isinstance(info.get(name), str) or not info.get(name)]
    if missing:
        problems.append("The key file lacks " + ", ".join(f'"{name}"' for name in missing) + ".")
    if "private_key" not in missing:
        try:
            serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        except (ValueError, TypeError):
            problems.append('The key file\'s "private_key" is not a readable unencrypted PEM private key.')
    if "token_uri" not in missing and urlsplit(info["token_uri"]).scheme not in ("http", "https"):
        problems.append('The key file\'s "token_uri" must be an http(s) URL.')
    universe = info.get("universe_domain", DEFAULT_UNIVERSE)
    if universe != DEFAULT_UNIVERSE:
        problems.append(f'The key file\'s "universe_domain" must be {DEFAULT_UNIVERSE}.')
    return problems


def parse_service_account(raw: Any) -> dict:
    """The key file as a dict, or ConnectorError(invalid_config) naming what is wrong (never its content)."""
    problems = service_account_problems(raw) if raw not in (None, "") else ["The service account key is missing."]
    if problems:
        raise ConnectorError(
            ErrorCode.INVALID_CONFIG,
            f"The `{SERVICE_ACCOUNT_FIELD}` setting is not usable: {problems[0]}",
            remediation="Paste the whole JSON key file of the service account (IAM → Service accounts → Keys).",
        )
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def google_error_parts(body: dict) -> tuple[str, str]:
    """(reason, message) from Google's JSON error shape {"error": {"code", "message", "errors": [{reason}]}},
    or the OAuth shape {"error": "...", "error_description": "..."}."""
    error = body.get("error")
    if isinstance(error, str):
        return error, str(body.get("error_description") or "")
    if not isinstance(error, dict):
        return "", ""
    reasons = [item.get("reason", "") for item in error.get("errors") or [] if isinstance(item, dict)]
    reason = next((r for r in reasons if r), "") or str(error.get("status") or "")
    return reason, str(error.get("message") or "")


RATE_LIMIT_REASONS = ("rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "RESOURCE_EXHAUSTED")
SCOPE_REASONS = ("insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
_RULES = (
    Rule(ErrorCode.RATE_LIMITED, vendor_code=RATE_LIMIT_REASONS),  # BigQuery answers quota errors with 403
    Rule(ErrorCode.AUTH_INVALID, status=401),
    Rule(ErrorCode.NOT_FOUND, vendor_code=("notFound", "NOT_FOUND")),
    Rule(ErrorCode.INVALID_CONFIG, "Enable billing on the Google Cloud project.", vendor_code="billingNotEnabled"),
    Rule(ErrorCode.INVALID_CONFIG, vendor_code=("accountDisabled", "projectDisabled")),
    Rule(
        remediation="The access token lacks the API scope; this is a bug in the connector, please report it.",
        vendor_code=SCOPE_REASONS,
    ),
)


def google_errors(vendor: str, remediations: dict[ErrorCode, str] | None = None) -> ErrorTable:
    """A Google JSON API's error table; `remediations` adds the product-specific hint per error code."""
    return ErrorTable(vendor, rules=_RULES, extract=google_error_parts, remediations=remediations or {})


TOKEN_ENDPOINT_ERRORS = google_errors("Google's token endpoint")


def google_common_steps(host: str, scope: str) -> tuple[Step, Step]:
    """The connectivity and authentication steps every Google connector starts with."""
    return (
        Step(
            "connectivity",
            f"DNS resolves, TCP connects and TLS is valid for {host} and for the key file's token endpoint; "
            "any HTTP answer proves they are reachable.",
            10,
        ),
        Step(
            "authentication",
            "The token endpoint exchanges a JWT signed with the service-account key for an access token "
            f"(scope {scope}): the key is valid and not disabled.",
            15,
        ),
    )


class _TokenResponse(google.auth.transport.Response):
    def __init__(self, response: requests.Response):
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self):
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class GuardedRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport on the guarded session, with the step's timeout and error mapping.

    A 429 or 5xx from the token endpoint ends the step at once (with Retry-After) instead of google-auth's
    own retry loop, which could outlive the step.
    """

    def __init__(self, client: OutboundClient):
        super().__init__(session=client.session)
        self.client = client
        self.last_status: int | None = None

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        response = self.client.request(method, url, data=body, headers=headers, allow_redirects=False, **kwargs)
        self.last_status = response.status_code
        if response.status_code == 429 or response.status_code >= 500:
            raise TOKEN_ENDPOINT_ERRORS.error(response)
        return _TokenResponse(response)


TOKEN_ERROR_HINTS = {
    "invalid_grant": "Google refused the key: it was deleted or disabled, the service account was deleted, or "
    "this server's clock is off. Create a new key for the service account and paste it again.",
    "invalid_client": "Google does not know this key or service account; create a new key and paste it again.",
    "unauthorized_client": "This service account may not obtain tokens this way; check it is not restricted by "
    "an organisation policy.",
    "invalid_scope": "The requested API scope was refused; check the API is enabled for the project.",
}


class GoogleServiceAccountConnector(Connector):
    """Base for Google Cloud connectors authenticating with a service-account key file (not registered)."""

    api_base: ClassVar[str]  # e.g. "https://bigquery.googleapis.com"
    vendor: ClassVar[str]  # e.g. "BigQuery"
    scopes: ClassVar[tuple[str, ...]]
    remediations: ClassVar[dict[ErrorCode, str]] = {}

    access_token: str | None = None
    client_email: str = ""

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        problems = service_account_problems(config.get(SERVICE_ACCOUNT_FIELD))
        return [(SERVICE_ACCOUNT_FIELD, problem) for problem in problems]

    @property
    def service_account(self) -> dict:
        return parse_service_account(self.config.get(SERVICE_ACCOUNT_FIELD))

    def api_url(self, path: str) -> str:
        return self.vendor_url(self.api_base + path)

    # --- steps shared by every Google connector -----------------------------------------------

    def check_connectivity(self):
        return self.reach(self.api_url("/"), self.service_account["token_uri"])

    def check_authentication(self):
        self.authenticate()
        return (
            f"Google issued an access token for {self.client_email}.",
            {"client_email": self.client_email, "scopes": list(self.scopes)},
        )

    # --- helpers ------------------------------------------------------------------------------

    def authenticate(self) -> str:
        if self.access_token:
            return self.access_token
        info = self.service_account
        try:
            credentials = service_account.Credentials.from_service_account_info(info, scopes=list(self.scopes))
        except (ValueError, KeyError):
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"The `{SERVICE_ACCOUNT_FIELD}` key file could not be loaded.",
                remediation="Paste the whole JSON key file of the service account.",
            ) from None
        request = GuardedRequest(self.http)
        try:
            credentials.refresh(request)
        except google.auth.exceptions.RefreshError as exc:
            raise self._token_error(exc, request.last_status) from None
        self.client_email = info["client_email"]
        self.access_token = credentials.token
        self.remember_secret(credentials.token)
        return self.access_token

    @staticmethod
    def _token_error(exc: google.auth.exceptions.RefreshError, status: int | None) -> ConnectorError:
        data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
        error = str(data.get("error") or "")
        description = str(data.get("error_description") or "")
        said = ": ".join(part for part in (error, description) if part) or "no access token in the answer"
        status_text = f"HTTP {status}" if status else "an error"
        code = ErrorCode.INVALID_CONFIG if error == "invalid_scope" else ErrorCode.AUTH_INVALID
        return ConnectorError(
            code,
            f"Google's token endpoint answered {status_text}: {said}.",
            remediation=TOKEN_ERROR_HINTS.get(error, "Check the service account key, or create a new one."),
            http_status=status,
            vendor_code=error or None,
        )

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        """An authorized JSON-API call; raises the mapped ConnectorError for any non-2xx answer."""
        token = self.authenticate()
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **kwargs.pop("headers", {})}
        response = self.http.request(method, self.api_url(path), headers=headers, allow_redirects=False, **kwargs)
        if not 200 <= response.status_code < 300:
            raise google_errors(self.vendor, self.remediations).error(response)
        return response
