"""Google Ads Customer Match through the Google Data Manager API (datamanager.googleapis.com).

Since 1 April 2026 the Google Ads API no longer accepts new Customer Match adopters; Google points them at the
Data Manager API v1. The checks exchange the OAuth refresh token, confirm the datamanager scope, read the user
list (accountTypes.accounts.userLists.get) and send a `validateOnly` audienceMembers:ingest, which Google
validates, permissions included, without storing anything.
"""

from __future__ import annotations

import hashlib
import re
import uuid

from ._audience import SHA256_HEX, identifier_field, missing_scopes, oauth_errors, refresh_access_token
from .runtime.base import Connector, FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.oauth import OAuthProvider, client_and_refresh
from .runtime.registry import register
from .runtime.schema import config_schema, enum, secret, string
from .runtime.vendor import ErrorTable, Rule, read_json

TOKEN_HOST = "https://oauth2.googleapis.com"
TOKEN_URL = f"{TOKEN_HOST}/token"
API_URL = "https://datamanager.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/datamanager"
VENDOR = "Google Data Manager API"
TOKEN_VENDOR = "Google OAuth"
ACCOUNT_TYPE = "GOOGLE_ADS"
CONSENT = ["CONSENT_GRANTED", "CONSENT_DENIED"]
# Upload key types this destination can send, and the probe member each one needs.
SUPPORTED_KEYS = ("CONTACT_ID", "MOBILE_ID", "USER_ID")
PROBE_EMAIL = "connection-test@example.com"
RECONNECT = (
    "Authorise the Google account again with the scope https://www.googleapis.com/auth/datamanager and store "
    "the new refresh token (refresh tokens of OAuth apps in 'Testing' status expire after 7 days)."
)
INGEST_DOC = "https://developers.google.com/data-manager/api/reference/rest/v1/audienceMembers/ingest"
_ADS_ID = {"pattern": "^[0-9]{10}$", "x-pattern-message": "Must be the 10-digit account ID without dashes."}


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _key_types(user_list: dict) -> list[str]:
    return (user_list.get("ingestedUserListInfo") or {}).get("uploadKeyTypes") or []


def _rpc_status_parts(body: dict) -> tuple[str, str]:
    """A google.rpc.Status body {"error": {code, message, status, details: [ErrorInfo, RetryInfo…]}}: the
    vendor code is "STATUS/REASON" (ErrorInfo's reason), or whichever of the two is present."""
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    details = error.get("details") if isinstance(error.get("details"), list) else []
    reason = next((d["reason"] for d in details if isinstance(d, dict) and d.get("reason")), "")
    status = str(error.get("status") or "")
    return "/".join(part for part in (status, reason) if part), error.get("message")


def _retry_delay(response, body: dict) -> float | None:
    """RetryInfo's retryDelay ("30s") from a google.rpc.Status body."""
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    details = error.get("details") if isinstance(error.get("details"), list) else []
    delay = next((d.get("retryDelay") for d in details if isinstance(d, dict) and d.get("retryDelay")), None)
    return float(delay[:-1]) if isinstance(delay, str) and re.fullmatch(r"[0-9.]+s", delay) else None


TOKEN_ERRORS = oauth_errors(TOKEN_VENDOR, reconnect=RECONNECT)
_NO_ACCESS = (
    "Give the Google user of the refresh token access to Google Ads account {cid}, or set login_customer_id to "
    "the manager account it is reached through."
)
ERRORS = ErrorTable(
    VENDOR,
    extract=_rpc_status_parts,
    retry_after=_retry_delay,
    rules=(
        Rule(ErrorCode.TOKEN_EXPIRED, RECONNECT, status=401, vendor_code="*ACCESS_TOKEN_EXPIRED"),
        Rule(ErrorCode.AUTH_INVALID, RECONNECT, status=401),
        Rule(ErrorCode.INSUFFICIENT_PERMISSIONS, RECONNECT, vendor_code="*ACCESS_TOKEN_SCOPE_INSUFFICIENT"),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "Enable the Data Manager API (datamanager.googleapis.com) in the Google Cloud project of the OAuth "
            "client, wait a few minutes, and test again.",
            vendor_code="*SERVICE_DISABLED",
        ),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "Accept the Customer Match terms of service in Google Ads account {cid} (Tools → Audience manager).",
            vendor_code="*TERMS_AND_CONDITIONS_NOT_SIGNED",
        ),
        Rule(
            ErrorCode.NOT_FOUND,
            "Check user_list_id {list_id}: it must be a Customer Match list of account {cid}.",
            vendor_code=("*INVALID_USER_LIST_ID", "*/NOT_FOUND", "NOT_FOUND"),
        ),
        Rule(
            ErrorCode.NOT_FOUND,
            "Check user_list_id {list_id}: it must be a Customer Match list of account {cid}.",
            status=404,
        ),
        Rule(
            ErrorCode.INVALID_CONFIG,
            "Use a Customer Match list owned by the operating account.",
            vendor_code=("*INVALID_USER_LIST_TYPE", "*DATA_PARTNER_USER_LIST_MUTATE_NOT_ALLOWED"),
        ),
        Rule(ErrorCode.INSUFFICIENT_PERMISSIONS, _NO_ACCESS, status=403),
        Rule(ErrorCode.INSUFFICIENT_PERMISSIONS, _NO_ACCESS, vendor_code="PERMISSION_DENIED*"),
    ),
)


# Connect with OAuth: Google's web-server flow with offline access for a refresh token, prompt=consent so one is
# issued again on re-authorisation, and PKCE; users may untick scopes (granular consent), so the answer's `scope`
# counts (developers.google.com/identity/protocols/oauth2/web-server).
OAUTH = OAuthProvider(
    vendor="Google",
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url=TOKEN_URL,
    pkce=True,
    default_scopes=(SCOPE,),
    required_scopes=((SCOPE,),),
    to_credentials=client_and_refresh,
    extra_params={"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"},
)


@register
class GoogleAdsConnector(Connector):
    type = "google_ads"
    label = "Google Ads (Customer Match)"
    example_config = {
        "client_id": "1234567890-abcdef.apps.googleusercontent.com",
        "client_secret": "your-oauth-client-secret",
        "refresh_token": "your-refresh-token",
        "customer_id": "1234567890",
        "user_list_id": "1234567890",
    }
    default_api_version = "v1"  # Data Manager API; Google has published no sunset for v1
    api_version_doc = "https://developers.google.com/data-manager/api"
    auth_method = "OAuth 2.0 refresh token (Google Cloud OAuth client, scope datamanager) for the Data Manager API"
    default_base_url = API_URL
    oauth = OAUTH
    config_schema = config_schema(
        "Google Ads Customer Match",
        "Adds and removes Customer Match audience members through the Google Data Manager API "
        "(datamanager.googleapis.com), which replaced Google Ads API Customer Match uploads for new adopters on "
        "1 April 2026. Authentication: an OAuth 2.0 refresh token of a Google user who has access to the Google Ads "
        "account, issued to your Google Cloud OAuth client with the scope https://www.googleapis.com/auth/datamanager "
        "(enable the Data Manager API in that Cloud project; no developer token is needed). Alternatives, not "
        "accepted by this form: a service-account key whose email was added as a user of the Google Ads account; "
        "the legacy Google Ads API (developer token + OfflineUserDataJobService), open only to developer tokens "
        "already allow-listed for Customer Match.",
        {
            "client_id": string(
                "OAuth client ID of your Google Cloud project.",
                pattern=r"\.apps\.googleusercontent\.com$",
                **{"x-pattern-message": "Must be a Google OAuth client ID ending in .apps.googleusercontent.com."},
            ),
            "client_secret": secret("OAuth client secret of that client."),
            "refresh_token": secret("Refresh token granted to that client with the datamanager scope."),
            "customer_id": string(
                "Google Ads operating account (customer) ID that owns the user list, 10 digits without dashes.",
                **_ADS_ID,
            ),
            "login_customer_id": string(
                "Manager (MCC) account ID, 10 digits, when the Google user reaches customer_id through a manager.",
                **_ADS_ID,
            ),
            "user_list_id": string(
                "ID of the Customer Match user list the syncs write to (the Data Manager productDestinationId).",
                pattern="^[0-9]+$",
                **{"x-pattern-message": "Must be the numeric user list ID."},
            ),
            "consent_ad_user_data": enum(
                "Consent for ad user data sent with every upload; required for users in the EEA.", CONSENT
            ),
            "consent_ad_personalization": enum(
                "Consent for ad personalization sent with every upload; required for users in the EEA.", CONSENT
            ),
        },
        ["client_id", "client_secret", "refresh_token", "customer_id", "user_list_id"],
    )
    steps = (
        Step(
            "connectivity",
            "DNS resolves, TCP connects and TLS is valid for datamanager.googleapis.com and oauth2.googleapis.com.",
            10,
        ),
        Step("authentication", "Google's OAuth token endpoint exchanges the refresh token for an access token.", 15),
        Step(
            "scopes",
            f"The access token carries the Data Manager scope {SCOPE}.",
            5,
            proves=(Requirement(SCOPE, INGEST_DOC, proof="the token endpoint's answer lists the granted scopes"),),
        ),
        Step(
            "user_list",
            "The Google Ads account is reachable with these credentials and the Customer Match user list exists, is "
            "open and writable (Data Manager userLists.get).",
            15,
        ),
        Step(
            "write_check",
            "A validateOnly audienceMembers:ingest with one dummy member is accepted for the list: Google checks the "
            "request, the terms of service and the write permission, and stores nothing.",
            20,
            proves=(
                Requirement(
                    "write access to the Customer Match user list for the Google user of the refresh token",
                    INGEST_DOC,
                    proof="audienceMembers:ingest with validateOnly: true, validated permissions included, stores "
                    "nothing",
                ),
            ),
        ),
    )

    def __init__(self, config, *, policy=None):
        super().__init__(config, policy=policy)
        self._token: dict | None = None
        self._user_list: dict | None = None

    # --- steps ----------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(
            *(
                self.vendor_url(url)
                for url in (
                    f"{API_URL}/",
                    f"{TOKEN_HOST}/",
                )
            )
        )

    def check_authentication(self):
        token = self._access_token()
        expires = token.get("expires_in")
        return (
            f"Google issued an access token for the OAuth client (valid {expires} s).",
            {"token_type": token.get("token_type", "Bearer"), "expires_in": expires},
        )

    def check_scopes(self):
        token = self._access_token()
        granted = str(token.get("scope", "")).split()
        if missing_scopes(granted, [SCOPE]):
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                "The refresh token was granted without the Data Manager scope; it has: "
                f"{', '.join(granted) or 'none'}.",
                remediation=RECONNECT,
                details={"granted_scopes": granted},
            )
        return f"The access token carries {SCOPE}.", {"granted_scopes": granted}

    def check_user_list(self):
        user_list = self._fetch_user_list()
        key_types = _key_types(user_list)
        details = {
            "name": user_list.get("name", ""),
            "display_name": user_list.get("displayName", ""),
            "membership_status": user_list.get("membershipStatus", ""),
            "upload_key_types": key_types,
        }
        list_id = self.config["user_list_id"]
        if user_list.get("readOnly"):
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"User list {list_id} is read-only for these credentials (for example a list shared with the account).",
                remediation="Use a Customer Match list owned by the operating account customer_id.",
                details=details,
            )
        if user_list.get("accountAccessStatus") == "DISABLED":
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The share of user list {list_id} with account {self.config['customer_id']} was revoked.",
                remediation="Ask the list owner to re-enable the share, or use a list owned by this account.",
                details=details,
            )
        if user_list.get("membershipStatus") == "CLOSED":
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"User list {list_id} is CLOSED and accepts no new members.",
                remediation="Re-open the list in Google Ads (Audience manager) or configure an open list.",
                details=details,
            )
        if not key_types or not any(key in SUPPORTED_KEYS for key in key_types):
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"User list {list_id} is not a Customer Match list this destination can fill "
                f"(upload key types: {', '.join(key_types) or 'none'}).",
                remediation="Use a Customer Match list whose upload key type is contact info, mobile ID or user ID.",
                details=details,
            )
        name = user_list.get("displayName") or list_id
        return (
            f"User list '{name}' exists in account {self.config['customer_id']}, is "
            f"{user_list.get('membershipStatus', 'OPEN')} and accepts {', '.join(key_types)}.",
            details,
        )

    def check_write_check(self):
        key_types = _key_types(self._user_list or self._fetch_user_list()) or ["CONTACT_ID"]
        body = {
            "destinations": [self._destination()],
            "audienceMembers": [self._probe_member(key_types)],
            "encoding": "HEX",
            "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
            "validateOnly": True,
        }
        consent = self._consent()
        if consent:
            body["consent"] = consent
        response = self.http.post(
            self.vendor_url(f"{API_URL}/v1/audienceMembers:ingest"), json=body, headers=self._headers(login=False)
        )
        if response.status_code != 200:
            raise self._api_error(response, "the validateOnly ingest")
        request_id = read_json(response).get("requestId", "")
        return (
            f"Google validated an audience upload to user list {self.config['user_list_id']} "
            "(validateOnly: nothing was stored).",
            {"request_id": request_id, "validate_only": True},
        )

    # --- helpers --------------------------------------------------------------------------------

    def _access_token(self) -> dict:
        if self._token is None:
            self._token = refresh_access_token(
                self,
                TOKEN_URL,
                errors=TOKEN_ERRORS,
                client_id=self.config["client_id"],
                client_secret=self.config["client_secret"],
                refresh_token=self.config["refresh_token"],
            )
        return self._token

    def _headers(self, *, login: bool = True) -> dict:
        headers = {"Authorization": f"Bearer {self._access_token()['access_token']}", "Accept": "application/json"}
        if login and self.config.get("login_customer_id"):
            headers["login-account"] = f"accountTypes/{ACCOUNT_TYPE}/accounts/{self.config['login_customer_id']}"
        return headers

    def _destination(self) -> dict:
        destination = {
            "operatingAccount": {"accountType": ACCOUNT_TYPE, "accountId": self.config["customer_id"]},
            "productDestinationId": self.config["user_list_id"],
        }
        if self.config.get("login_customer_id"):
            destination["loginAccount"] = {"accountType": ACCOUNT_TYPE, "accountId": self.config["login_customer_id"]}
        return destination

    @staticmethod
    def _probe_member(key_types: list[str]) -> dict:
        if "CONTACT_ID" in key_types:
            return {"userData": {"userIdentifiers": [{"emailAddress": _sha256(PROBE_EMAIL)}]}}
        if "MOBILE_ID" in key_types:
            return {"mobileData": {"mobileIds": [str(uuid.uuid4())]}}
        return {"userIdData": {"userId": "connection-test"}}

    def _consent(self) -> dict:
        consent = {}
        if self.config.get("consent_ad_user_data"):
            consent["adUserData"] = self.config["consent_ad_user_data"]
        if self.config.get("consent_ad_personalization"):
            consent["adPersonalization"] = self.config["consent_ad_personalization"]
        return consent

    def _fetch_user_list(self) -> dict:
        name = (
            f"accountTypes/{ACCOUNT_TYPE}/accounts/{self.config['customer_id']}/userLists/{self.config['user_list_id']}"
        )
        response = self.http.get(self.vendor_url(f"{API_URL}/v1/{name}"), headers=self._headers())
        if response.status_code != 200:
            raise self._api_error(response, "the user list")
        self._user_list = read_json(response)
        return self._user_list

    def _api_error(self, response, what: str) -> ConnectorError:
        context = {"cid": self.config["customer_id"], "list_id": self.config["user_list_id"]}
        return ERRORS.error(response, doing=f"checking {what}", context=context)

    # --- fields ---------------------------------------------------------------------------------

    def describe_fields(self) -> FieldsDescription:
        address_note = " Sent inside address{} together with first_name, last_name, country_code and postal_code."
        fields = [
            identifier_field(
                "email",
                "Email address",
                "userIdentifiers[].emailAddress. Remove all whitespace, lowercase; for gmail.com/googlemail.com also "
                f"remove dots and any +suffix before the @; {SHA256_HEX}.",
                must_hash=True,
            ),
            identifier_field(
                "phone",
                "Phone number",
                f"userIdentifiers[].phoneNumber. E.164 with + and country code (e.g. +18005550100), trimmed; "
                f"{SHA256_HEX}.",
                must_hash=True,
            ),
            identifier_field(
                "first_name",
                "First name",
                f"address.givenName. Lowercase, no prefixes (Mrs.), no punctuation, trimmed; {SHA256_HEX}."
                + address_note,
                must_hash=True,
                identifier=False,
            ),
            identifier_field(
                "last_name",
                "Last name",
                f"address.familyName. Lowercase, no suffixes (Jr.), no punctuation, trimmed; {SHA256_HEX}."
                + address_note,
                must_hash=True,
                identifier=False,
            ),
            identifier_field(
                "country_code",
                "Country code",
                "address.regionCode. ISO-3166-1 alpha-2 code of the address (e.g. US); not hashed." + address_note,
                must_hash=False,
                identifier=False,
            ),
            identifier_field(
                "postal_code",
                "Postal code",
                "address.postalCode. Postal code of the address, trimmed; not hashed." + address_note,
                must_hash=False,
                identifier=False,
            ),
            identifier_field(
                "mobile_id",
                "Mobile advertising ID",
                "mobileData.mobileIds[]. IDFA or Android advertising ID as is; not hashed. Only for lists with "
                "upload key type MOBILE_ID (a member carries one data type).",
                must_hash=False,
            ),
            identifier_field(
                "user_id",
                "User ID",
                "userIdData.userId. Your own stable user ID; not hashed. Only for lists with upload key type USER_ID.",
                must_hash=False,
            ),
        ]
        return FieldsDescription(
            object="audience_member",
            source="static",
            fields=fields,
            options={
                "operations": ["audienceMembers:ingest", "audienceMembers:remove"],
                "destination": {
                    "account_type": ACCOUNT_TYPE,
                    "customer_id": self.config.get("customer_id"),
                    "user_list_id": self.config.get("user_list_id"),
                },
                "encoding": "HEX",
                "hash": "SHA-256",
                "max_identifiers_per_member": 10,
                "max_members_per_request": 10000,
                "sync_key": "A hashed identifier (email or phone), mobile_id or user_id.",
            },
        )
