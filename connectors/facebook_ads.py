"""Meta (Facebook) customer-list Custom Audiences through the Marketing API on graph.facebook.com.

The checks read the token's owner (/me), its granted permissions (/me/permissions: ads_management), the ad
account (act_<id>) and the custom audience (subtype, owner account, operation_status, permission_for_actions).
Meta has no validate-only mode for the audience users edge, so nothing is written. Graph errors come as
`{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`; the code decides the error code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date

from ._audience import SHA256_HEX, identifier_field
from .runtime.base import Connector, DestinationField, FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.http import retry_after_seconds
from .runtime.registry import register
from .runtime.schema import config_schema, secret, string
from .runtime.vendor import ErrorTable, Rule, read_json

GRAPH_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v27.0"  # Marketing API v27.0, released 4 November 2026 (v25.0 expires 23 February 2027)
VERSIONS_DOC = (
    "https://developers.facebook.com/documentation/ads-commerce/marketing-api/marketing-api-changelog/versions"
)
TERMS = "custom_audience_tos"
TERMS_URL = "https://business.facebook.com/ads/manage/customaudiences/tos/?act={account}"
TERMS_DOC = (
    "https://developers.facebook.com/documentation/ads-commerce/marketing-api/audiences/reference/"
    "custom-audience-terms-of-service"
)
USERS_DOC = "https://developers.facebook.com/documentation/ads-commerce/marketing-api/reference/custom-audience/users"
# A customer list created with is_value_based=1 is still subtype CUSTOM, but every upload to it must carry the schema
# key LOOKALIKE_VALUE, and the value-based lookalike terms must be accepted for the ad account (Meta's value-based
# lookalike guide). Ads Manager reads that acceptance as tos_accepted.value_based_custom_audience_tos.
VALUE_BASED_DOC = "https://developers.facebook.com/docs/marketing-api/audiences/guides/value-based-lookalike-audiences/"
VALUE_TERMS = "value_based_custom_audience_tos"
VALUE_TERMS_URL = "https://business.facebook.com/customaudiences/value_based/tos.php?act={account}"
VALUE_KEY = "LOOKALIKE_VALUE"
VENDOR = "Meta Graph API"
REQUIRED_PERMISSION = "ads_management"
NEW_TOKEN = (
    "Generate a new system-user token in Business settings → Users → System users → Generate new token, with the "
    "ads_management permission, and store it here."
)
ASSIGN_SYSTEM_USER = (
    "Assign the system user to the ad account (Business settings → Accounts → Ad accounts → Add people) with "
    "'Manage ad account' rights, and check the ID."
)
RATE_LIMIT_CODES = {4, 17, 32, 613, 80003, 80004}
ACCOUNT_STATUS = {
    1: "ACTIVE",
    2: "DISABLED",
    3: "UNSETTLED",
    7: "PENDING_RISK_REVIEW",
    8: "PENDING_SETTLEMENT",
    9: "IN_GRACE_PERIOD",
    100: "PENDING_CLOSURE",
    101: "CLOSED",
    201: "ANY_ACTIVE",
    202: "ANY_CLOSED",
}
AUDIENCE_FIELDS = (
    "id,name,account_id,subtype,is_value_based,operation_status,delivery_status,approximate_count_lower_bound,"
    "permission_for_actions"
)


@register
class FacebookAdsConnector(Connector):
    type = "facebook_ads"
    label = "Facebook / Meta Ads (Custom Audiences)"
    example_config = {
        "access_token": "your-system-user-access-token",
        "ad_account_id": "act_1234567890",
        "audience_id": "23850000000000000",
    }
    auth_method = "System-user access token (Business Manager) with ads_management; optional appsecret_proof"
    default_base_url = GRAPH_URL
    default_api_version = DEFAULT_VERSION
    api_version_sunset: date | None = None  # Meta lists v27.0's expiration date as TBD
    api_version_doc = VERSIONS_DOC
    config_schema = config_schema(
        "Meta Custom Audience",
        "Adds and removes people in a Meta customer-list Custom Audience through the Marketing API "
        "(graph.facebook.com). Authentication: a long-lived system-user access token created in Meta Business "
        "Manager with the ads_management permission, the system user assigned to the ad account; when app_secret "
        "is set every call also carries appsecret_proof. Alternative, not recommended: a user access token from "
        "Facebook Login (it expires after about 60 days and must then be replaced).",
        {
            "access_token": secret("System-user access token with the ads_management permission."),
            "ad_account_id": string(
                "Ad account ID (digits; the act_ prefix is optional).",
                pattern="^(act_)?[0-9]+$",
                **{"x-pattern-message": "Must be the numeric ad account ID, optionally prefixed with act_."},
            ),
            "audience_id": string(
                "ID of the customer-list Custom Audience the syncs add people to.",
                pattern="^[0-9]+$",
                **{"x-pattern-message": "Must be the numeric custom audience ID."},
            ),
            "api_version": string(
                "Graph API version.",
                pattern=r"^v[0-9]+\.[0-9]+$",
                default=DEFAULT_VERSION,
                **{"x-pattern-message": "Must look like v27.0."},
            ),
            "app_secret": secret(
                "Optional secret of the app that issued the token; required when the app enforces "
                "'Require app secret' (every call then sends appsecret_proof).",
                pattern="^[0-9a-f]{32}$",
                **{"x-pattern-message": "Must be the app secret: 32 lowercase hex characters."},
            ),
        },
        ["access_token", "ad_account_id", "audience_id"],
    )
    steps = (
        Step("connectivity", "DNS resolves, TCP connects and TLS is valid for graph.facebook.com.", 10),
        Step("authentication", "Meta accepts the access token and says whose it is (GET /me).", 10),
        Step(
            "permissions",
            "The token has the ads_management permission granted (GET /me/permissions).",
            10,
            proves=(Requirement(REQUIRED_PERMISSION, USERS_DOC, proof="GET /me/permissions lists it as granted"),),
        ),
        Step(
            "ad_account",
            "The ad account exists, is visible to the token and is not disabled or closed, and the Custom Audience "
            "terms are accepted for its business and for the token's user (tos_accepted, user_tos_accepted).",
            10,
            proves=(
                Requirement(
                    "the Custom Audience terms, accepted for the business and by the token's user",
                    TERMS_DOC,
                    proof="the ad account's tos_accepted and user_tos_accepted name custom_audience_tos",
                ),
            ),
        ),
        Step(
            "audience",
            "The custom audience exists, is a customer-list audience of this ad account, is not blocked for uploads "
            "and the token may edit it; for a value-based audience, the value-based terms are accepted for the ad "
            "account. Meta has no validate-only upload, so nothing is written.",
            10,
            proves=(
                Requirement(
                    "edit rights on the custom audience",
                    USERS_DOC,
                    proof="the audience's permission_for_actions.can_edit",
                ),
                Requirement(
                    "the value-based lookalike terms (value-based audiences only)",
                    VALUE_BASED_DOC,
                    proof=f"the ad account's tos_accepted names {VALUE_TERMS}",
                ),
            ),
        ),
    )

    _account_terms: dict | None = None  # the ad account's tos_accepted, once the ad_account step read it

    # --- steps ----------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(*(self.vendor_url(url) for url in (f"{GRAPH_URL}/",)))

    def check_authentication(self):
        me = self._get("me", {"fields": "id,name"}, "the token owner")
        return (
            f"Meta accepted the access token of '{me.get('name', '')}' (id {me.get('id', '')}).",
            {"user_id": me.get("id", ""), "name": me.get("name", "")},
        )

    def check_permissions(self):
        data = self._get("me/permissions", {}, "the granted permissions").get("data") or []
        granted = sorted(p.get("permission", "") for p in data if p.get("status") == "granted")
        if REQUIRED_PERMISSION not in granted:
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The access token lacks the {REQUIRED_PERMISSION} permission "
                f"(granted: {', '.join(granted) or 'none'}).",
                remediation=NEW_TOKEN,
                details={"granted_permissions": granted},
            )
        return f"The token has {REQUIRED_PERMISSION}.", {"granted_permissions": granted}

    def check_ad_account(self):
        fields = "id,name,account_status,currency,tos_accepted,user_tos_accepted"
        account = self._get(f"act_{self.account_id}", {"fields": fields}, "the ad account")
        status = ACCOUNT_STATUS.get(account.get("account_status"), str(account.get("account_status", "")))
        details = {"ad_account": f"act_{self.account_id}", "name": account.get("name", ""), "account_status": status}
        if status in ("DISABLED", "CLOSED", "PENDING_CLOSURE"):
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"Ad account act_{self.account_id} is {status}; Meta rejects audience changes for it.",
                remediation="Reactivate the ad account in Ads Manager, or configure an active ad account.",
                details=details,
            )
        unsigned = [
            who
            for who, field in (("its business", "tos_accepted"), ("the token's user", "user_tos_accepted"))
            if not _signed(account.get(field))
        ]
        self._account_terms = account.get("tos_accepted")
        details["custom_audience_terms_accepted"] = not unsigned
        if unsigned:
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The Custom Audience terms are not accepted for ad account act_{self.account_id} by "
                f"{' nor by '.join(unsigned)}; Meta refuses uploads until they are (error #2655).",
                remediation=f"Open {TERMS_URL.format(account=self.account_id)} as the token's user (an admin accepts "
                "for a system user) and accept the Custom Audience terms, then test again.",
                details=details,
            )
        return (
            f"Ad account '{account.get('name', '')}' (act_{self.account_id}) is {status} and its Custom Audience "
            "terms are accepted.",
            details,
        )

    def check_audience(self):
        audience_id = self.config["audience_id"]
        audience = self._get(audience_id, {"fields": AUDIENCE_FIELDS}, "the custom audience")
        operation = audience.get("operation_status") or {}
        permissions = audience.get("permission_for_actions") or {}
        details = {
            "name": audience.get("name", ""),
            "subtype": audience.get("subtype", ""),
            "account_id": str(audience.get("account_id", "")),
            "operation_status": operation,
            "approximate_count_lower_bound": audience.get("approximate_count_lower_bound"),
        }
        if str(audience.get("account_id", "")) != self.account_id:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"Custom audience {audience_id} belongs to ad account act_{audience.get('account_id')}, "
                f"not act_{self.account_id}.",
                remediation="Configure the ad account that owns the audience, or an audience of this ad account.",
                details=details,
            )
        if audience.get("subtype") != "CUSTOM":
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"Custom audience {audience_id} is a {audience.get('subtype')} audience; only customer-list "
                "audiences (subtype CUSTOM) accept uploaded people.",
                remediation="Create a customer-list custom audience and configure its ID.",
                details=details,
            )
        if operation.get("code") == 471:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"Meta flagged custom audience {audience_id} (operation status 471: "
                f"{operation.get('description', 'audience restricted')}); uploads are rejected (error 100/1713230).",
                remediation="Review the audience in Ads Manager; create a new customer-list audience that complies "
                "with Meta's custom audience terms and configure it.",
                vendor_code="471",
                details=details,
            )
        if permissions.get("can_edit") is False:
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"The token may not edit custom audience {audience_id}.",
                remediation=ASSIGN_SYSTEM_USER,
                details=details,
            )
        if "can_edit" not in permissions:
            self.report_unproven(
                "edit rights on the custom audience",
                "Meta's answer carried no permission_for_actions.can_edit for this audience.",
                grant=ASSIGN_SYSTEM_USER,
            )
        value_based = bool(audience.get("is_value_based"))
        details["value_based"] = value_based
        if value_based:
            self._check_value_terms(audience_id, details)
            return (
                f"Custom audience '{audience.get('name', '')}' ({audience_id}) is a value-based customer list of "
                f"act_{self.account_id}, can be edited and its value-based terms are accepted; every upload must "
                f"carry {VALUE_KEY}, so map that field.",
                details,
            )
        return (
            f"Custom audience '{audience.get('name', '')}' ({audience_id}) is a customer list of "
            f"act_{self.account_id} and can be edited.",
            details,
        )

    def _check_value_terms(self, audience_id: str, details: dict) -> None:
        terms = self._account_terms
        if terms is None:  # the ad_account step did not run in this session
            terms = self._get(f"act_{self.account_id}", {"fields": "tos_accepted"}, "the ad account").get(
                "tos_accepted"
            )
        signed = isinstance(terms, dict) and terms.get(VALUE_TERMS) in (1, True, "1")
        details["value_based_terms_accepted"] = signed
        if not signed:
            raise ConnectorError(
                ErrorCode.INSUFFICIENT_PERMISSIONS,
                f"Custom audience {audience_id} is value-based, and the value-based lookalike terms are not accepted "
                f"for ad account act_{self.account_id}; Meta refuses uploads to it until they are.",
                remediation=f"Open {VALUE_TERMS_URL.format(account=self.account_id)} as an admin of the ad "
                "account's business and accept the value-based custom audience terms, then test again.",
                details=details,
            )

    # --- helpers --------------------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        return self.config["ad_account_id"].removeprefix("act_")

    def _get(self, path: str, params: dict, what: str) -> dict:
        version = self.config.get("api_version") or DEFAULT_VERSION
        token = self.config["access_token"]
        params = dict(params)
        if self.config.get("app_secret"):
            params["appsecret_proof"] = hmac.new(
                self.config["app_secret"].encode(), token.encode(), hashlib.sha256
            ).hexdigest()
        response = self.http.get(
            self.vendor_url(f"{GRAPH_URL}/{version}/{path}"),
            params=params,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        if response.status_code != 200:
            raise self._graph_error(response, what)
        return read_json(response)

    def _graph_error(self, response, what: str) -> ConnectorError:
        error = read_json(response).get("error") or {}
        code, subcode = error.get("code"), error.get("error_subcode")
        details = {"fbtrace_id": error["fbtrace_id"]} if error.get("fbtrace_id") else {}
        result = GRAPH_ERRORS.error(
            response, doing=f"checking {what}", context={"account": self.account_id}, details=details
        )
        result.vendor_code = f"{code}/{subcode}" if code is not None and subcode else result.vendor_code
        result.details.pop("vendor_code", None)
        return result

    # --- fields ---------------------------------------------------------------------------------

    def describe_fields(self) -> FieldsDescription:
        """The fixed schema keys, plus LOOKALIKE_VALUE (required) when the audience is value-based: read live."""
        audience = self._get(self.config["audience_id"], {"fields": "id,is_value_based"}, "the custom audience")
        value_based = bool(audience.get("is_value_based"))

        def key(name, label, rule, *, identifier=False, must_hash=True):
            suffix = f"; {SHA256_HEX}." if must_hash else "; sent as is, not hashed."
            return identifier_field(name, label, f"{name}: {rule}{suffix}", must_hash=must_hash, identifier=identifier)

        fields = [
            key("EMAIL", "Email", "trim and lowercase", identifier=True),
            key(
                "PHONE",
                "Phone",
                "digits only with the country code, no + or leading zeros (e.g. 16505551234)",
                identifier=True,
            ),
            key("FN", "First name", "lowercase a-z only, no punctuation; UTF-8 for special characters"),
            key("LN", "Last name", "lowercase a-z only, no punctuation; UTF-8 for special characters"),
            key("FI", "First initial", "first letter of the first name, lowercase"),
            key("GEN", "Gender", "f or m"),
            key("DOBY", "Birth year", "four digits, YYYY"),
            key("DOBM", "Birth month", "two digits, 01-12"),
            key("DOBD", "Birth day", "two digits, 01-31"),
            key("CT", "City", "lowercase a-z only, no spaces or punctuation"),
            key(
                "ST",
                "State / province",
                "2-letter ANSI code for US states, lowercase; otherwise lowercase a-z, no punctuation",
            ),
            key("ZIP", "Postal code", "lowercase, no spaces; US: first 5 digits only"),
            key("COUNTRY", "Country", "2-letter ISO 3166-1 alpha-2 code, lowercase"),
            key(
                "MADID",
                "Mobile advertiser ID",
                "Android advertising ID or Apple IDFA, lowercase with hyphens",
                identifier=True,
                must_hash=False,
            ),
            key(
                "EXTERN_ID",
                "External ID",
                "your own stable ID for the person, trimmed; matched only against IDs you sent before",
                identifier=True,
                must_hash=False,
            ),
            key("APPUID", "App-scoped user ID", "Facebook app-scoped user ID", identifier=True, must_hash=False),
            key("PAGEUID", "Page-scoped user ID", "Facebook page-scoped user ID", identifier=True, must_hash=False),
        ]
        if value_based:
            fields.append(
                DestinationField(
                    name=VALUE_KEY,
                    label="Customer value",
                    type="number",
                    required=True,
                    updateable=False,
                    description=f"{VALUE_KEY}: the person's value to you, a non-negative integer or decimal; sent as "
                    "is, not hashed. Every upload to a value-based audience must carry it.",
                )
            )
        return FieldsDescription(
            object="custom_audience_user",
            source="live",
            fields=fields,
            options={
                "audience_id": self.config.get("audience_id"),
                "value_based": value_based,
                "operations": ["POST /{audience_id}/users (add)", "DELETE /{audience_id}/users (remove)"],
                "payload": "payload={schema: [keys], data: [[values]]}",
                "max_rows_per_request": 10000,
                "hash": "SHA-256",
                "sync_key": "Hashed EMAIL or PHONE, or EXTERN_ID / MADID.",
            },
        )


def _signed(terms, name: str = TERMS) -> bool:
    """tos_accepted / user_tos_accepted map each signed terms name to 1."""
    return isinstance(terms, dict) and terms.get(name) in (1, True, "1")


def _retry_after(response, body: dict | None = None) -> float | None:
    """Retry-After when present, else the longest estimated_time_to_regain_access (minutes) of the BUC header."""
    seconds = retry_after_seconds(response.headers.get("Retry-After"))
    if seconds is not None:
        return seconds
    try:
        usage = json.loads(response.headers.get("X-Business-Use-Case-Usage", "{}"))
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access", 0)
        for entries in (usage.values() if isinstance(usage, dict) else [])
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict)
    ]
    return max(minutes) * 60.0 if minutes and max(minutes) > 0 else None


def _graph_fault(body: dict) -> tuple[str, str]:
    """(code, message) of a Graph error; a subcode is named in the message, so rules can match it."""
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code, subcode, message = error.get("code"), error.get("error_subcode"), str(error.get("message") or "")
    return ("" if code is None else str(code)), (f"{message} (subcode {subcode})" if subcode else message)


def _codes(*ranges: range | int) -> tuple[str, ...]:
    return tuple(str(c) for r in ranges for c in (r if isinstance(r, range) else [r]))


GRAPH_ERRORS = ErrorTable(
    VENDOR,
    rules=(
        Rule(ErrorCode.TOKEN_EXPIRED, NEW_TOKEN, vendor_code="190", message="(subcode 463)"),
        Rule(ErrorCode.TOKEN_EXPIRED, NEW_TOKEN, vendor_code="190", message="(subcode 460)"),
        Rule(ErrorCode.TOKEN_EXPIRED, NEW_TOKEN, vendor_code="102"),
        Rule(ErrorCode.AUTH_INVALID, NEW_TOKEN, vendor_code="190"),
        Rule(
            ErrorCode.AUTH_INVALID,
            "Check app_secret: it must be the secret of the app that issued the token.",
            vendor_code="100",
            message="appsecret_proof",
        ),
        Rule(ErrorCode.NOT_FOUND, ASSIGN_SYSTEM_USER, vendor_code="100", message="(subcode 33)"),
        Rule(ErrorCode.NOT_FOUND, ASSIGN_SYSTEM_USER, vendor_code="803"),
        Rule(
            ErrorCode.INVALID_CONFIG,
            "Meta blocked uploads to this audience; create a new customer-list audience and configure it.",
            vendor_code="100",
            message="(subcode 1713230)",
        ),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            f"{NEW_TOKEN} {ASSIGN_SYSTEM_USER}",
            vendor_code=_codes(10, range(200, 300)),
        ),
        Rule(ErrorCode.RATE_LIMITED, vendor_code=_codes(*RATE_LIMIT_CODES)),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            f"Accept the Custom Audience terms: {TERMS_URL}.",
            vendor_code=("2655", "2663"),
        ),
        Rule(
            ErrorCode.INVALID_CONFIG,
            f"Set api_version to a current Graph API version (e.g. {DEFAULT_VERSION}).",
            vendor_code="2635",
        ),
        Rule(ErrorCode.VENDOR_ERROR, vendor_code=("1", "2")),
    ),
    extract=_graph_fault,
    retry_after=_retry_after,
)
