"""The OAuth 2.0 authorization-code flow: where to send the user, how to trade the code, how to renew a token.

A type that Connects with OAuth declares its `OAuthProvider` in its own module, as the connector class's
`oauth` attribute (as Sentry keeps a provider's facts in its package): the authorization and token endpoints,
whether PKCE (S256) is supported, how scopes are joined and reported, the scopes the type needs, how a token
answer becomes the connector's credentials and, for a vendor whose customer picks the login server, which
hosts may receive the app's secret (`LoginHosts`). This module holds only the protocol; it knows no vendor.
No Django here: the destinations app keeps the state, the apps and the tokens.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

from .errors import ConnectorError
from .hosts import HostRefused, UrlHost, url_host
from .http import OutboundClient, rebase_url
from .redaction import Redactor

# OAuth error codes a vendor may put on the redirect (RFC 6749 §4.1.2.1 plus vendor ones) that we pass on as-is.
DENIED = {"access_denied", "access-denied", "user_cancelled_authorize", "user_cancelled_login", "consent_required"}
# What a token request carries that is secret: a vendor that echoes its request must not show them.
SECRET_FORM_FIELDS = ("code", "code_verifier", "refresh_token", "client_secret")
ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # an OAuth error code; anything else is not quoted as one
PASSED_ON = {"redirect_uri_mismatch", "invalid_scope", "unauthorized_client", "invalid_request", "server_error"}


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
class LoginHosts:
    """A vendor whose customer picks the login server (Salesforce: production, a sandbox or a My Domain).

    The login server receives the app's client secret, the code and the PKCE verifier, so only `allowed` hosts
    may be it; the token answer then names the customer's instance, which must be one of `instance_hosts`.
    An entry is an exact host, or `.suffix` for any host strictly under it; hosts are read as the request will
    read them (hosts.url_host), on https and its default port. The operator's CONNECTOR_BASE_URLS entry (an
    emulator, a proxy) replaces the login server and is an allowed instance too.
    """

    default: str
    allowed: tuple[str, ...]
    instance_hosts: tuple[str, ...]
    hint: str  # what the login URL may be, told to whoever sent another

    def base(self, login_url: str | None, base_url: str | None) -> str:
        """The login server's origin for `login_url` (the default when empty); ValueError naming the remedy."""
        login_url = login_url or self.default
        if base_url and login_url.rstrip("/") == base_url.rstrip("/"):
            return base_url.rstrip("/")
        try:
            login = url_host(login_url)
        except HostRefused as exc:
            raise ValueError(f"{exc} {self.hint}") from None
        if not self._is_login(login):
            raise ValueError(self.hint)
        return rebase_url(f"https://{login.host}", base_url).rstrip("/")

    def is_login_server(self, url: str) -> bool:
        """Whether `url` plainly names one of the vendor's login servers."""
        try:
            return self._is_login(url_host(url))
        except HostRefused:
            return False

    def _is_login(self, login: UrlHost) -> bool:
        return login.within(self.allowed) and login.port in (None, 443)

    def instance_allowed(self, instance_url: str, base_url: str | None) -> bool:
        try:
            instance = url_host(instance_url, schemes=("http", "https"))
            if base_url and instance == url_host(base_url, schemes=("http", "https")):
                return True
        except HostRefused:
            return False
        return instance.scheme == "https" and instance.port in (None, 443) and instance.within(self.instance_hosts)

    def origins(self) -> list[str]:
        """The login servers as CSP sources (`.suffix` as a `*.` wildcard)."""
        return [f"https://*{host}" if host.startswith(".") else f"https://{host}" for host in self.allowed]


@dataclass(frozen=True)
class OAuthProvider:
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
    # The type's CONNECTOR_BASE_URLS entry rebases both endpoints (sandbox, emulator); a vendor with `login`
    # rules instead takes its login server from the caller's `login_url`, and the endpoints' paths under it.
    login: LoginHosts | None = None
    error_codes: Mapping[str, str] = field(default_factory=dict)  # a vendor's own error names -> OAuth names

    # --- endpoints ----------------------------------------------------------------------------

    def endpoints(self, *, base_url: str | None, login_url: str | None = None) -> tuple[str, str]:
        """(authorization URL, token URL) after the operator's rebasing and, with `login` rules, the login host."""
        if self.login is not None:
            server = self.login.base(login_url, base_url)
            return server + urlsplit(self.authorize_url).path, server + urlsplit(self.token_url).path
        return rebase_url(self.authorize_url, base_url), rebase_url(self.token_url, base_url)

    def instance_allowed(self, instance_url: str, base_url: str | None) -> bool:
        """Whether the instance a token answer names may receive the tokens (always, without `login` rules)."""
        return self.login is None or self.login.instance_allowed(instance_url, base_url)

    def form_origins(self, base_url: str | None) -> list[str]:
        """Where the authorisation pages live, for a CSP form-action that sends the browser there."""
        if self.login is not None and not base_url:
            return self.login.origins()
        parts = urlsplit(self.endpoints(base_url=base_url)[0])
        return [f"{parts.scheme}://{parts.netloc}"]

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
        """POST the form; every text of the answer passes one Redactor holding each secret the form carried
        (a vendor may echo its request in an error) and the tokens it answered."""
        redactor = Redactor(form.get(name) for name in SECRET_FORM_FIELDS)
        try:
            # Never follow a redirect with a client secret and a code or refresh token in the body.
            response = client.post(token_url, data=form, headers={"Accept": "application/json"}, allow_redirects=False)
        except ConnectorError as exc:
            raise redacted(exc, redactor) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        if response.status_code != 200 or not body.get("access_token"):
            raise self._error(response.status_code, body, redactor)
        redactor.add(body.get("access_token"), body.get("refresh_token"))
        return self.parse_grant(
            body, requested_scopes, previous_refresh_token=previous_refresh_token, redactor=redactor
        )

    def _error(self, status: int, body: dict, redactor: Redactor) -> OAuthError:
        raw = body.get("error") or body.get("status") or ""
        if not isinstance(raw, str) or not ERROR_CODE.match(raw) or redactor.mask(raw) != raw:
            raw = ""  # not an OAuth error code (an echo, an object): not quoted as one
        code = self.error_codes.get(raw, raw) or ("server_error" if status >= 500 else "invalid_response")
        description = body.get("error_description") or body.get("message") or ""
        said = f": {redactor.text(description)}" if isinstance(description, str) and description.strip() else ""
        return OAuthError(
            code, f"{self.vendor}'s token endpoint answered HTTP {status} ({code}){said}", http_status=status
        )

    def parse_grant(
        self,
        body: dict,
        requested_scopes: list[str],
        *,
        previous_refresh_token: str | None,
        redactor: Redactor | None = None,
    ) -> Grant:
        """A token answer as a Grant. A missing `scope` means the requested ones were granted (RFC 6749 §5.1).

        The scopes and facts are shown to every member: `redactor` masks any secret echoed in them."""
        redactor = redactor or Redactor((body.get("access_token"), body.get("refresh_token")))
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
            scopes=[redactor.text(scope) for scope in scopes],
            expires_at=_after(now, body.get("expires_in")),
            refresh_token_expires_at=_after(now, body.get("refresh_token_expires_in")),
            facts=redactor.deep(facts),
        )


def redacted(error: ConnectorError, redactor: Redactor) -> ConnectorError:
    """The same error with each of its texts through `redactor`."""
    return replace(
        error,
        message=redactor.text(error.message),
        remediation=redactor.text(error.remediation),
        vendor_code=redactor.text(error.vendor_code) if error.vendor_code else error.vendor_code,
        details=redactor.deep(error.details),
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


def client_and_refresh(grant: Grant, app: OAuthApp, options: dict) -> dict:
    """Credentials that renew their own access token: the app and the refresh token."""
    return {"client_id": app.client_id, "client_secret": app.client_secret, "refresh_token": grant.refresh_token}


def access_and_refresh(grant: Grant, app: OAuthApp, options: dict) -> dict:
    """Credentials that use the access token as issued, and renew it when a refresh token came with it."""
    credentials = {"client_id": app.client_id, "client_secret": app.client_secret, "access_token": grant.access_token}
    if grant.refresh_token:
        credentials["refresh_token"] = grant.refresh_token
    return credentials


def redirect_error_code(error: str) -> str:
    """The error a vendor put on the redirect, as the code we pass to the caller."""
    if error in DENIED:
        return "access_denied"
    return error if error in PASSED_ON else "authorization_failed"
