"""The OAuth 2.0 authorization-code side of the four OAuth vendors: where to send the user, how to trade the code.

One `OAuthProvider` per destination type, declared next to its connector's constants: the authorization and
token endpoints, whether PKCE (S256) is supported, how scopes are joined and reported, the scopes the type needs,
and how a token answer becomes the connector's credentials. No Django here: the destinations app keeps the
state, the apps and the tokens; this module only speaks the vendors' protocol through the guarded client.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from urllib.parse import urlencode, urlsplit

from .. import google_ads, hubspot, linkedin_ads, salesforce
from .http import OutboundClient, rebase_url

# OAuth error codes a vendor may put on the redirect (RFC 6749 §4.1.2.1 plus vendor ones) that we pass on as-is.
DENIED = {"access_denied", "access-denied", "user_cancelled_authorize", "user_cancelled_login", "consent_required"}
PASSED_ON = {"redirect_uri_mismatch", "invalid_scope", "unauthorized_client", "invalid_request", "server_error"}
SALESFORCE_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com", "*.my.salesforce.com")
SALESFORCE_INSTANCE_HOSTS = ("*.salesforce.com", "*.force.com")


class OAuthError(Exception):
    """The vendor refused (`code` is its OAuth error code, e.g. invalid_grant) or could not be reached."""

    def __init__(self, code: str, message: str, *, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


@dataclass
class Grant:
    """What a token answer gave: tokens (secrets), their lifetimes, the scopes, and vendor facts (hub_id…)."""

    access_token: str
    refresh_token: str | None
    scopes: list[str]
    expires_at: datetime | None
    refresh_token_expires_at: datetime | None = None
    facts: dict = field(default_factory=dict)  # non-secret identity: instance_url, id, hub_id, user_id

    def __repr__(self) -> str:  # never print tokens
        return f"Grant(scopes={self.scopes!r}, expires_at={self.expires_at!r})"


@dataclass(frozen=True)
class OAuthApp:
    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"OAuthApp(client_id={self.client_id!r})"


@dataclass(frozen=True)
class OAuthProvider:
    type: str
    vendor: str
    authorize_url: str
    token_url: str
    pkce: bool
    default_scopes: tuple[str, ...]
    # Each group needs one of its scopes granted (Salesforce's `full` covers `api`).
    required_scopes: tuple[tuple[str, ...], ...]
    to_credentials: Callable[[Grant, OAuthApp, dict], dict]
    scope_separator: str = " "
    extra_params: Mapping[str, str] = field(default_factory=dict)
    # The type's CONNECTOR_BASE_URLS entry rebases both endpoints (sandbox, emulator); Salesforce instead takes
    # its login host from `login_url`, checked against SALESFORCE_LOGIN_HOSTS.
    login_url_option: bool = False
    error_codes: Mapping[str, str] = field(default_factory=dict)  # a vendor's own error names -> OAuth names

    # --- endpoints ----------------------------------------------------------------------------

    def endpoints(self, *, base_url: str | None, login_url: str | None = None) -> tuple[str, str]:
        """(authorization URL, token URL) after the operator's rebasing and, for Salesforce, the login host."""
        if self.login_url_option:
            login = salesforce_login_base(login_url or salesforce.DEFAULT_LOGIN_URL, base_url)
            return f"{login}/services/oauth2/authorize", f"{login}/services/oauth2/token"
        return rebase_url(self.authorize_url, base_url), rebase_url(self.token_url, base_url)

    def authorization_url(
        self,
        *,
        authorize_url: str,
        app: OAuthApp,
        redirect_uri: str,
        state: str,
        scopes: list[str],
        code_challenge: str | None,
    ) -> str:
        params = {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scope_separator.join(scopes),
            "state": state,
            **self.extra_params,
        }
        if code_challenge and self.pkce:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        return f"{authorize_url}?{urlencode(params)}"

    # --- scopes -------------------------------------------------------------------------------

    def missing_scopes(self, granted: list[str]) -> list[str]:
        have = set(granted)
        return [group[0] for group in self.required_scopes if not have & set(group)]

    # --- token endpoint -----------------------------------------------------------------------

    def exchange_code(
        self,
        client: OutboundClient,
        *,
        token_url: str,
        app: OAuthApp,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        requested_scopes: list[str],
    ) -> Grant:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        }
        if code_verifier and self.pkce:
            form["code_verifier"] = code_verifier
        return self._token_call(client, token_url, form, requested_scopes, previous_refresh_token=None)

    def refresh(
        self, client: OutboundClient, *, token_url: str, app: OAuthApp, refresh_token: str, scopes: list[str]
    ) -> Grant:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        }
        return self._token_call(client, token_url, form, scopes, previous_refresh_token=refresh_token)

    def _token_call(self, client, token_url, form, requested_scopes, *, previous_refresh_token) -> Grant:
        # Never follow a redirect with a client secret and a code or refresh token in the body.
        response = client.post(token_url, data=form, headers={"Accept": "application/json"}, allow_redirects=False)
        try:
            body = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        if response.status_code != 200 or not body.get("access_token"):
            raise self._error(response.status_code, body)
        return self.parse_grant(body, requested_scopes, previous_refresh_token=previous_refresh_token)

    def _error(self, status: int, body: dict) -> OAuthError:
        raw = str(body.get("error") or body.get("status") or "")
        code = self.error_codes.get(raw, raw) or ("server_error" if status >= 500 else "invalid_response")
        # The vendor's description is not quoted: some echo the code or token they were sent.
        return OAuthError(code, f"{self.vendor}'s token endpoint answered HTTP {status} ({code}).", http_status=status)

    def parse_grant(self, body: dict, requested_scopes: list[str], *, previous_refresh_token: str | None) -> Grant:
        """A token answer as a Grant. A missing `scope` means the requested ones were granted (RFC 6749 §5.1)."""
        now = datetime.now(UTC)
        raw_scopes = body.get("scopes", body.get("scope"))
        if isinstance(raw_scopes, list):
            scopes = [str(s) for s in raw_scopes]
        elif isinstance(raw_scopes, str):
            scopes = raw_scopes.replace(",", " ").split()
        else:
            scopes = list(requested_scopes)
        facts = {key: body[key] for key in ("instance_url", "id", "hub_id", "user_id") if body.get(key) is not None}
        return Grant(
            access_token=str(body["access_token"]),
            refresh_token=str(body.get("refresh_token") or previous_refresh_token or "") or None,
            scopes=scopes,
            expires_at=_after(now, body.get("expires_in")),
            refresh_token_expires_at=_after(now, body.get("refresh_token_expires_in")),
            facts=facts,
        )


def _after(now: datetime, seconds) -> datetime | None:
    try:
        return now + timedelta(seconds=int(seconds))
    except (TypeError, ValueError):
        return None


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) as RFC 7636 §4.1-4.2 define them."""
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def salesforce_login_base(login_url: str, base_url: str | None) -> str:
    """The login server to send the user and the client secret to: a Salesforce login host (or the operator's
    CONNECTOR_BASE_URLS rebasing of one). Any other host is refused: it would receive the client secret."""
    parts = urlsplit(login_url.strip())
    host = (parts.hostname or "").lower()
    if base_url and login_url.rstrip("/") == base_url.rstrip("/"):
        return base_url.rstrip("/")
    if parts.scheme != "https" or not any(fnmatch(host, pattern) for pattern in SALESFORCE_LOGIN_HOSTS):
        raise ValueError(
            "login_url must be https://login.salesforce.com, https://test.salesforce.com (sandboxes) or your "
            "https://<domain>.my.salesforce.com."
        )
    return rebase_url(f"https://{host}", base_url).rstrip("/")


def salesforce_instance_allowed(instance_url: str, base_url: str | None) -> bool:
    parts = urlsplit(instance_url)
    if base_url and parts.netloc == urlsplit(base_url).netloc:
        return True
    return parts.scheme == "https" and any(fnmatch(parts.hostname or "", p) for p in SALESFORCE_INSTANCE_HOSTS)


# --- the four providers -----------------------------------------------------------------------------------


def _salesforce_credentials(grant: Grant, app: OAuthApp, options: dict) -> dict:
    return {
        "instance_url": str(grant.facts.get("instance_url") or "").rstrip("/"),
        "login_url": options["login_url"],
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "refresh_token": grant.refresh_token,
    }


def _client_and_refresh(grant: Grant, app: OAuthApp, options: dict) -> dict:
    return {"client_id": app.client_id, "client_secret": app.client_secret, "refresh_token": grant.refresh_token}


def _access_and_refresh(grant: Grant, app: OAuthApp, options: dict) -> dict:
    credentials = {"client_id": app.client_id, "client_secret": app.client_secret, "access_token": grant.access_token}
    if grant.refresh_token:
        credentials["refresh_token"] = grant.refresh_token
    return credentials


PROVIDERS: dict[str, OAuthProvider] = {
    # Web server flow with PKCE; the answer carries instance_url and the identity URL `id`
    # (help.salesforce.com remoteaccess_oauth_web_server_flow).
    "salesforce": OAuthProvider(
        type="salesforce",
        vendor="Salesforce",
        authorize_url=f"{salesforce.DEFAULT_LOGIN_URL}/services/oauth2/authorize",
        token_url=f"{salesforce.DEFAULT_LOGIN_URL}/services/oauth2/token",
        pkce=True,
        default_scopes=("api", "refresh_token"),
        required_scopes=(("api", "full"), ("refresh_token", "offline_access")),
        to_credentials=_salesforce_credentials,
        login_url_option=True,
    ),
    # Legacy public apps: app.hubspot.com/oauth/authorize, POST api.hubapi.com/oauth/2026-03/token (code_verifier
    # accepted); the answer lists `scopes` and names the account in `hub_id`; access tokens live 30 minutes.
    "hubspot": OAuthProvider(
        type="hubspot",
        vendor="HubSpot",
        authorize_url="https://app.hubspot.com/oauth/authorize",
        token_url=hubspot.TOKEN_URL,
        pkce=True,
        default_scopes=(
            "oauth",
            "crm.objects.contacts.read",
            "crm.objects.contacts.write",
            "crm.schemas.contacts.read",
        ),
        required_scopes=(("crm.objects.contacts.write",),),
        to_credentials=_access_and_refresh,
        error_codes={"BAD_REFRESH_TOKEN": "invalid_grant", "BAD_AUTH_CODE": "invalid_grant"},
    ),
    # Google's web-server flow: offline access for a refresh token, prompt=consent so one is issued again on
    # re-authorisation, PKCE supported; users may untick scopes (granular consent), so the answer's `scope` counts.
    "google_ads": OAuthProvider(
        type="google_ads",
        vendor="Google",
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url=google_ads.TOKEN_URL,
        pkce=True,
        default_scopes=(google_ads.SCOPE,),
        required_scopes=((google_ads.SCOPE,),),
        to_credentials=_client_and_refresh,
        extra_params={"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"},
    ),
    # LinkedIn's 3-legged flow (PKCE is for native apps only, enabled per app by LinkedIn); 60-day access tokens,
    # refresh tokens (365 days, not reset by a refresh) for approved Marketing partners.
    "linkedin_ads": OAuthProvider(
        type="linkedin_ads",
        vendor="LinkedIn",
        authorize_url=f"{linkedin_ads.OAUTH_URL}/authorization",
        token_url=f"{linkedin_ads.OAUTH_URL}/accessToken",
        pkce=False,
        default_scopes=("r_ads", linkedin_ads.SEGMENT_SCOPE),
        required_scopes=((linkedin_ads.SEGMENT_SCOPE,), linkedin_ads.ADS_SCOPES),
        to_credentials=_access_and_refresh,
        error_codes=linkedin_ads.OAUTH_ERROR_CODES,
    ),
}


def provider_for(destination_type: str) -> OAuthProvider | None:
    return PROVIDERS.get(destination_type)


def redirect_error_code(error: str) -> str:
    """The error a vendor put on the redirect, as the code we pass to the caller."""
    if error in DENIED:
        return "access_denied"
    return error if error in PASSED_ON else "authorization_failed"
