"""LinkedIn Matched Audiences: users or companies streamed into a DMP segment of a sponsored (ad) account.

Marketing APIs take only 3-legged member tokens. The checks introspect the token at
www.linkedin.com/oauth/v2/introspectToken (active, expiry, scopes) and renew it with the refresh token when
one is configured (approved partners only), then read the member's role on the ad account
(/rest/adAccountUsers?q=authenticatedUser) and the DMP segment (/rest/dmpSegments/{id}). LinkedIn has no
validate-only write for segments, so nothing is written.
"""

from __future__ import annotations

from datetime import date

from ._audience import SHA256_HEX, identifier_field, missing_scopes, oauth_errors, refresh_access_token
from .runtime.base import Connector, FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.oauth import OAuthProvider, access_and_refresh
from .runtime.registry import register
from .runtime.schema import config_schema, enum, secret, string
from .runtime.vendor import ErrorTable, Rule, read_json

API_URL = "https://api.linkedin.com"
OAUTH_URL = "https://www.linkedin.com/oauth/v2"
VENDOR = "LinkedIn Marketing API"
OAUTH_VENDOR = "LinkedIn OAuth"
DEFAULT_VERSION = "202607"
SEGMENT_SCOPE = "rw_dmp_segments"
ADS_SCOPES = ("rw_ads", "r_ads")
WRITE_ROLES = ("ACCOUNT_BILLING_ADMIN", "ACCOUNT_MANAGER", "CAMPAIGN_MANAGER", "CREATIVE_MANAGER")
UNUSABLE_SEGMENT_STATUSES = ("EXPIRED", "FAILED", "ERROR")
RECONNECT = (
    "Reconnect LinkedIn: have an ad-account user authorise the app again (3-legged OAuth) with rw_dmp_segments "
    "and r_ads, and store the new access token (it lives 60 days)."
)
EXPIRED_SERVICE_CODE = 65602  # 65600 invalid token, 65601 revoked token
INTROSPECTION_DOC = "https://learn.microsoft.com/en-us/linkedin/shared/authentication/token-introspection"
SEGMENT_USERS_DOC = (
    "https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-users"
)
# The token endpoint answers a dead refresh token (expired, or revoked by the member or LinkedIn) with
# 400 invalid_request "The provided authorization grant or refresh token is invalid, expired or revoked", where
# RFC 6749 §5.2 says invalid_grant: the OAuth flow reads it as invalid_grant, so the grant counts as revoked.
OAUTH_ERROR_CODES = {"invalid_request": "invalid_grant"}
PAGE_SIZE = 100
MAX_PAGES = 10


def _linkedin_parts(body: dict) -> tuple[str, str]:
    """LinkedIn's error body: {"status", "serviceErrorCode", "code", "message"}."""
    return str(body.get("code") or body.get("serviceErrorCode") or ""), body.get("message")


OAUTH_ERRORS = oauth_errors(OAUTH_VENDOR, reconnect=RECONNECT)
_VERSION = "Set linkedin_version to an active Marketing API version (YYYYMM, under a year old)."
ERRORS = ErrorTable(
    VENDOR,
    extract=_linkedin_parts,
    rules=(
        Rule(ErrorCode.TOKEN_EXPIRED, RECONNECT, status=401, vendor_code=str(EXPIRED_SERVICE_CODE)),
        Rule(ErrorCode.TOKEN_EXPIRED, RECONNECT, status=401, message="expired"),
        Rule(ErrorCode.AUTH_INVALID, RECONNECT, status=401),
        Rule(
            remediation="The member needs rw_dmp_segments (Audiences program) and a role other than VIEWER on ad "
            "account {ad_account_id}.",
            status=403,
        ),
        Rule(remediation="Check segment_id {segment_id} exists in ad account {ad_account_id}.", status=404),
        Rule(ErrorCode.INVALID_CONFIG, _VERSION, status=426),
        Rule(ErrorCode.INVALID_CONFIG, _VERSION, vendor_code=("NONEXISTENT_VERSION", "VERSION_MISSING")),
        Rule(
            remediation="LinkedIn's daily per-app and per-member limits reset at midnight UTC; retry later.",
            status=429,
        ),
    ),
)


# Connect with OAuth: LinkedIn's 3-legged flow (PKCE is for native apps only, enabled per app by LinkedIn);
# 60-day access tokens, and refresh tokens (365 days, not reset by a refresh) for approved Marketing partners
# (learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow).
OAUTH = OAuthProvider(
    vendor="LinkedIn",
    authorize_url=f"{OAUTH_URL}/authorization",
    token_url=f"{OAUTH_URL}/accessToken",
    pkce=False,
    default_scopes=("r_ads", SEGMENT_SCOPE),
    required_scopes=((SEGMENT_SCOPE,), ADS_SCOPES),
    to_credentials=access_and_refresh,
    error_codes=OAUTH_ERROR_CODES,
)


@register
class LinkedInAdsConnector(Connector):
    type = "linkedin_ads"
    label = "LinkedIn Ads (Matched Audiences)"
    example_config = {
        "client_id": "your-client-id",
        "client_secret": "your-client-secret",
        "access_token": "your-access-token",
        "ad_account_id": "512345678",
        "segment_id": "12345678",
    }
    default_api_version = DEFAULT_VERSION
    # LinkedIn supports each monthly version at least a year and sunsets it mid-month a year on (202603: 16 March
    # 2027 in its migrations table); 202607 is the newest version its versioning page lists.
    api_version_sunset = date(2027, 7, 15)
    api_version_doc = "https://learn.microsoft.com/en-us/linkedin/marketing/integrations/migrations"
    auth_method = "OAuth 2.0 3-legged member token (rw_dmp_segments + r_ads), refresh token for approved partners"
    default_base_url = API_URL
    oauth = OAUTH
    config_schema = config_schema(
        "LinkedIn DMP segment",
        "Streams users or companies into a LinkedIn DMP segment (Matched Audiences) through the LinkedIn Marketing "
        "API. Authentication: an OAuth 2.0 authorization-code (3-legged) access token of a member with a role on the "
        "ad account, granted rw_dmp_segments (Audiences program: LinkedIn must approve your app) and r_ads or "
        "rw_ads; the app's client ID and secret are used to introspect it and, with a refresh token (issued only to "
        "approved Marketing Developer Platform partners), to renew it. Alternatives: none — LinkedIn does not "
        "accept 2-legged (client-credentials) tokens for Marketing APIs.",
        {
            "client_id": string("Client ID of your LinkedIn app."),
            "client_secret": secret("Client secret of your LinkedIn app."),
            "access_token": secret("3-legged member access token (60-day lifetime)."),
            "refresh_token": secret(
                "Optional refresh token (approved partners only, 365-day lifetime that does not reset on refresh)."
            ),
            "ad_account_id": string(
                "Sponsored (ad) account ID that owns the segment, digits only.",
                pattern="^[0-9]+$",
                **{"x-pattern-message": "Must be the numeric ad account ID (without urn:li:sponsoredAccount:)."},
            ),
            "segment_id": string(
                "ID of the DMP segment the syncs write to.",
                pattern="^[0-9]+$",
                **{"x-pattern-message": "Must be the numeric DMP segment ID."},
            ),
            "segment_type": enum("What the segment holds: people (user) or companies.", ["user", "company"], "user"),
            "linkedin_version": string(
                "Marketing API version sent as LinkedIn-Version (YYYYMM); versions are sunset about a year after "
                "release.",
                pattern="^20[0-9]{2}(0[1-9]|1[0-2])$",
                default=DEFAULT_VERSION,
                **{"x-pattern-message": "Must be a version month like 202603."},
            ),
        },
        ["client_id", "client_secret", "access_token", "ad_account_id", "segment_id"],
    )
    steps = (
        Step(
            "connectivity",
            "DNS resolves, TCP connects and TLS is valid for api.linkedin.com and www.linkedin.com (OAuth).",
            10,
        ),
        Step(
            "authentication",
            "LinkedIn's token introspection says the access token is an active 3-legged token of this app "
            "(an expired one is renewed with the refresh token when configured).",
            15,
        ),
        Step(
            "scopes",
            "Token introspection lists rw_dmp_segments (streaming users or companies into a segment) and r_ads or "
            "rw_ads.",
            5,
            proves=(
                Requirement(
                    SEGMENT_SCOPE,
                    SEGMENT_USERS_DOC,
                    proof=f"token introspection lists the token's scopes ({INTROSPECTION_DOC})",
                ),
            ),
        ),
        Step(
            "ad_account",
            "The token's member has a role on the ad account that may manage audiences (not VIEWER).",
            15,
            proves=(
                Requirement(
                    "an ad-account role other than VIEWER",
                    SEGMENT_USERS_DOC,
                    proof="adAccountUsers?q=authenticatedUser names the member's role on the ad account",
                ),
            ),
        ),
        Step(
            "segment",
            "The DMP segment exists, belongs to the ad account, holds the configured type and its LinkedIn "
            "destination is usable (destinations[].status not EXPIRED, FAILED or ERROR). LinkedIn has no "
            "validate-only upload, so nothing is written.",
            15,
        ),
    )

    def __init__(self, config, *, policy=None):
        super().__init__(config, policy=policy)
        self._token: str | None = None
        self._scopes: list[str] | None = None
        self._refreshed = False

    # --- steps ----------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(
            *(
                self.vendor_url(url)
                for url in (
                    f"{API_URL}/",
                    f"{OAUTH_URL}/",
                )
            )
        )

    def check_authentication(self):
        info = self._introspect(self.config["access_token"])
        details = {"auth_type": info.get("auth_type"), "expires_at": info.get("expires_at"), "refreshed": False}
        if info.get("active") and info.get("auth_type") not in (None, "3L"):
            raise ConnectorError(
                ErrorCode.AUTH_INVALID,
                f"The access token is a {info.get('auth_type')} token; LinkedIn Marketing APIs accept only 3-legged "
                "member tokens.",
                remediation=RECONNECT,
                details=details,
            )
        if info.get("active"):
            self._token = self.config["access_token"]
            self._scopes = _split_scopes(info.get("scope"))
            return f"The access token is active (3-legged, expires at {info.get('expires_at')}).", details
        status = str(info.get("status") or "")
        if status == "expired" and self.config.get("refresh_token"):
            token = refresh_access_token(
                self,
                f"{OAUTH_URL}/accessToken",
                errors=OAUTH_ERRORS,
                client_id=self.config["client_id"],
                client_secret=self.config["client_secret"],
                refresh_token=self.config["refresh_token"],
            )
            self._token, self._refreshed = token["access_token"], True
            self._scopes = _split_scopes(token.get("scope")) if token.get("scope") else None
            details.update(refreshed=True, expires_in=token.get("expires_in"))
            return (
                "The stored access token had expired; the refresh token obtained a new one "
                f"(valid {token.get('expires_in')} s), which syncs renew the same way.",
                details,
            )
        if status == "expired":
            raise ConnectorError(
                ErrorCode.TOKEN_EXPIRED,
                f"The LinkedIn access token expired at {info.get('expires_at')} and no refresh token is configured.",
                remediation=RECONNECT,
                details=details,
            )
        if status == "revoked":
            raise ConnectorError(
                ErrorCode.AUTH_INVALID,
                "The LinkedIn access token was revoked (by the member or LinkedIn).",
                remediation=RECONNECT,
                details=details,
            )
        raise ConnectorError(
            ErrorCode.AUTH_INVALID,
            "LinkedIn does not recognise the access token as an active token of this app.",
            remediation=f"Check client_id matches the app that issued the token. {RECONNECT}",
            details=details,
        )

    def check_scopes(self):
        scopes = self._granted_scopes()
        missing = missing_scopes(scopes, [SEGMENT_SCOPE])
        if not any(scope in scopes for scope in ADS_SCOPES):
            missing.append(" or ".join(ADS_SCOPES))
        if missing:
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The token lacks {', '.join(missing)} (it has: {', '.join(scopes) or 'none'}).",
                remediation="rw_dmp_segments is granted only to apps approved for LinkedIn's Audiences program; "
                f"request it in the Developer Portal (Products), then: {RECONNECT}",
                details={"granted_scopes": scopes},
            )
        return f"The token carries {SEGMENT_SCOPE} and {', '.join(s for s in ADS_SCOPES if s in scopes)}.", {
            "granted_scopes": scopes
        }

    def check_ad_account(self):
        urn = self.account_urn
        role = None
        for page in range(MAX_PAGES):
            body = self._get(
                "/rest/adAccountUsers",
                {"q": "authenticatedUser", "start": page * PAGE_SIZE, "count": PAGE_SIZE},
                "the member's ad accounts",
            )
            elements = body.get("elements") or []
            role = next((e.get("role") for e in elements if e.get("account") == urn), None)
            total = (body.get("paging") or {}).get("total")
            if role or len(elements) < PAGE_SIZE or (total is not None and (page + 1) * PAGE_SIZE >= total):
                break
        if role is None:
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The token's member has no role on ad account {self.config['ad_account_id']}.",
                remediation="Check ad_account_id, or have an account manager add the member in Campaign Manager "
                "(Account settings → Manage access) with Campaign manager rights or above.",
                details={"account": urn},
            )
        details = {"account": urn, "role": role}
        if role not in WRITE_ROLES:
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The token's member is {role} on ad account {self.config['ad_account_id']}; managing audiences needs "
                "a role other than VIEWER.",
                remediation="Have an account manager raise the member's role to Campaign manager or above.",
                details=details,
            )
        return f"The member is {role} on ad account {self.config['ad_account_id']}.", details

    def check_segment(self):
        segment_id = self.config["segment_id"]
        segment = self._get(f"/rest/dmpSegments/{segment_id}", {}, "the DMP segment")
        kind = str(segment.get("type", ""))
        status = _segment_status(segment)
        details = {
            "name": segment.get("name", ""),
            "type": kind,
            "status": status,
            "account": segment.get("account", ""),
            "destinations": segment.get("destinations", []),
        }
        if segment.get("account") != self.account_urn:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"DMP segment {segment_id} belongs to {segment.get('account')}, not {self.account_urn}.",
                remediation="Configure the ad account that owns the segment, or a segment of this ad account.",
                details=details,
            )
        wanted = self.config.get("segment_type", "user").upper()
        if not kind.startswith(wanted):
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"DMP segment {segment_id} is a {kind} segment, but segment_type is {wanted.lower()}.",
                remediation="Set segment_type to match the segment, or configure a segment of that type.",
                details=details,
            )
        if status in UNUSABLE_SEGMENT_STATUSES:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"DMP segment {segment_id} is {status} and cannot be used for targeting.",
                remediation="Create a new DMP segment in this ad account and configure its ID.",
                details=details,
            )
        return f"DMP segment '{segment.get('name', '')}' ({kind}, {status}) belongs to {self.account_urn}.", details

    # --- helpers --------------------------------------------------------------------------------

    @property
    def account_urn(self) -> str:
        return f"urn:li:sponsoredAccount:{self.config['ad_account_id']}"

    def _introspect(self, token: str) -> dict:
        response = self.http.post(
            self.vendor_url(f"{OAUTH_URL}/introspectToken"),
            data={"client_id": self.config["client_id"], "client_secret": self.config["client_secret"], "token": token},
            headers={"Accept": "application/json"},
        )
        body = read_json(response)
        if response.status_code == 200 and "active" in body:
            return body
        if response.status_code == 200:
            raise ConnectorError(
                ErrorCode.VENDOR_ERROR, f"{OAUTH_VENDOR} answered token introspection without 'active'."
            )
        if response.status_code == 400:  # LinkedIn documents 400 as "Invalid client id or token"
            raise ConnectorError(
                ErrorCode.AUTH_INVALID,
                f"{OAUTH_VENDOR} does not know this access token, or client_id (token introspection answered HTTP "
                "400: invalid client id or token).",
                remediation=f"Check client_id is the app that issued the token; if it is, the token is mistyped or "
                f"was never issued: {RECONNECT}",
                http_status=400,
                vendor_code=str(body.get("error") or "") or None,
            )
        if body.get("error"):
            raise OAUTH_ERRORS.error(response)
        raise self._api_error(response, "token introspection")

    def _granted_scopes(self) -> list[str]:
        if self._token is None:
            self.check_authentication()
        if self._scopes is None:  # a refreshed token whose answer listed no scopes
            self._scopes = _split_scopes(self._introspect(self._token).get("scope"))
        return self._scopes

    def _get(self, path: str, params: dict, what: str) -> dict:
        if self._token is None:
            self.check_authentication()
        response = self.http.get(
            self.vendor_url(f"{API_URL}{path}"),
            params=params,
            headers={
                "Authorization": f"Bearer {self._token}",
                "LinkedIn-Version": self.config.get("linkedin_version") or DEFAULT_VERSION,
                "X-Restli-Protocol-Version": "2.0.0",
                "Accept": "application/json",
            },
        )
        if response.status_code != 200:
            raise self._api_error(response, what)
        return read_json(response)

    def _api_error(self, response, what: str) -> ConnectorError:
        context = {"ad_account_id": self.config["ad_account_id"], "segment_id": self.config["segment_id"]}
        return ERRORS.error(response, doing=f"checking {what}", context=context)

    # --- fields ---------------------------------------------------------------------------------

    def describe_fields(self) -> FieldsDescription:
        if self.config.get("segment_type", "user") == "company":
            fields = [
                identifier_field("companyName", "Company name", "Company name as is; not hashed.", must_hash=False),
                identifier_field(
                    "organizationUrn",
                    "LinkedIn organization URN",
                    "urn:li:organization:{id}; not hashed.",
                    must_hash=False,
                ),
                identifier_field(
                    "companyWebsiteDomain",
                    "Website domain",
                    "Domain without scheme or path (example.com); not hashed.",
                    must_hash=False,
                ),
                identifier_field(
                    "companyEmailDomain",
                    "Email domain",
                    "Domain of company email addresses; not hashed.",
                    must_hash=False,
                ),
                identifier_field(
                    "companyPageUrl",
                    "LinkedIn page URL",
                    "https://www.linkedin.com/company/...; not hashed.",
                    must_hash=False,
                ),
            ]
            endpoint, sync_key = "/rest/dmpSegments/{id}/companies", "organizationUrn or companyWebsiteDomain"
        else:
            fields = [
                identifier_field(
                    "SHA256_EMAIL",
                    "Email (SHA-256)",
                    f"userIds[idType=SHA256_EMAIL]. Trim and lowercase the email, {SHA256_HEX}.",
                    must_hash=True,
                ),
                identifier_field(
                    "SHA512_EMAIL",
                    "Email (SHA-512)",
                    "userIds[idType=SHA512_EMAIL]. Trim and lowercase the email, then SHA-512, sent as 128 lowercase "
                    "hex characters.",
                    must_hash=True,
                ),
                identifier_field(
                    "GOOGLE_AID",
                    "Android advertising ID",
                    "userIds[idType=GOOGLE_AID]. As is; not hashed.",
                    must_hash=False,
                ),
                identifier_field(
                    "firstName",
                    "First name",
                    "Plain text, not hashed; with lastName, used when no user ID is sent.",
                    must_hash=False,
                    identifier=False,
                ),
                identifier_field(
                    "lastName",
                    "Last name",
                    "Plain text, not hashed; with firstName, used when no user ID is sent.",
                    must_hash=False,
                    identifier=False,
                ),
                identifier_field("title", "Job title", "Plain text, not hashed.", must_hash=False, identifier=False),
                identifier_field("company", "Company", "Plain text, not hashed.", must_hash=False, identifier=False),
                identifier_field(
                    "country", "Country", "ISO 3166-1 alpha-2 code, not hashed.", must_hash=False, identifier=False
                ),
            ]
            endpoint, sync_key = "/rest/dmpSegments/{id}/users", "SHA256_EMAIL (or GOOGLE_AID)"
        return FieldsDescription(
            object="dmp_segment_company" if self.config.get("segment_type") == "company" else "dmp_segment_user",
            source="static",
            fields=fields,
            options={
                "segment_id": self.config.get("segment_id"),
                "endpoint": endpoint,
                "method": "POST with X-RestLi-Method: BATCH_CREATE, elements[].action ADD or REMOVE",
                "max_elements_per_request": 5000,
                "sync_key": sync_key,
            },
        )


def _segment_status(segment: dict) -> str:
    """The segment's status as LinkedIn's FAQ says to read it: from its LINKEDIN destination (destinations[].status);
    the top-level status only when no destination carries one."""
    statuses = {
        str(d.get("destination", "")): str(d["status"])
        for d in segment.get("destinations") or []
        if isinstance(d, dict) and d.get("status")
    }
    return statuses.get("LINKEDIN") or next(iter(statuses.values()), "") or str(segment.get("status", ""))


def _split_scopes(value) -> list[str]:
    if isinstance(value, list):
        return [str(s).strip() for s in value if str(s).strip()]
    return [s.strip() for s in str(value or "").replace(" ", ",").split(",") if s.strip()]
