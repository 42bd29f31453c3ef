"""The Trade Desk first-party data segments, filled through the Data API on a regional data server.

The TTD-Auth token is checked with a Platform API read of the advertiser (GET /v3/advertiser/{id}); the
segment is looked up by name (POST /v3/dmp/firstparty/advertiser; TTD creates it on the first upload if it
does not exist); the data path is probed with POST /data/advertiser carrying no items, which writes nothing
but makes the data server check the token and whether the advertiser may send data
(401 AuthenticationFailed/InvalidToken, 403 IncorrectPermissions/AdvertiserMisconfigured).
"""

from __future__ import annotations

from ._audience import api_error, body_json, identifier_field
from .base import Connector, FieldsDescription, Step
from .errors import ConnectorError, ErrorCode
from .registry import register
from .schema import config_schema, enum, secret, string

PLATFORM_URL = "https://api.thetradedesk.com/v3"
DATA_SERVERS = {
    "usw": "https://usw-data.adsrvr.org",
    "use": "https://use-data.adsrvr.org",
    "euw": "https://euw-data.adsrvr.org",
    "sin": "https://sin-data.adsrvr.org",
    "tok": "https://tok-data.adsrvr.org",
    "cn": "https://data-cn2.adsrvr.cn",
}
VENDOR = "The Trade Desk"
NEW_TOKEN = (
    "Generate a new API token in The Trade Desk (Access Management, or ask your TTD account team) for a user "
    "with access to this advertiser, and store it here."
)
ENABLE_DATA = (
    "Ask your Trade Desk account team to enable first-party data uploads (Data API) for advertiser {advertiser} "
    "on the {server} data server, and for the token's user."
)
DATA_ERRORS = {
    "AuthenticationFailed": (ErrorCode.AUTH_INVALID, NEW_TOKEN),
    "InvalidToken": (ErrorCode.AUTH_INVALID, NEW_TOKEN),
    "IncorrectPermissions": (ErrorCode.INSUFFICIENT_PERMISSIONS, ENABLE_DATA),
    "AdvertiserMisconfigured": (ErrorCode.INSUFFICIENT_PERMISSIONS, ENABLE_DATA),
    "DataProviderMisconfigured": (ErrorCode.INSUFFICIENT_PERMISSIONS, ENABLE_DATA),
    "TargetingDataLimitReached": (
        ErrorCode.INVALID_CONFIG,
        "The advertiser reached its limit of targeting data elements; reuse an existing segment name or remove "
        "unused segments.",
    ),
    "EndpointNotConfigured": (ErrorCode.INVALID_CONFIG, "Check data_server is the region your account uses."),
}
ID_TYPES = (
    ("TDID", "The Trade Desk ID", "The Trade Desk cookie ID (a UUID)."),
    ("DAID", "Device advertising ID", "Android advertising ID or Apple IDFA (a UUID)."),
    ("UID2", "UID2", "Raw Unified ID 2.0 (from a UID2 operator; requires a UID2 agreement)."),
    ("UID2Token", "UID2 token", "Encrypted UID2 advertising token."),
    ("EUID", "EUID", "Raw European Unified ID (requires an EUID agreement)."),
    ("EUIDToken", "EUID token", "Encrypted EUID advertising token."),
    ("RampID", "LiveRamp RampID", "LiveRamp RampID encoded for The Trade Desk."),
    ("CoreID", "CORE ID", "Epsilon CORE ID."),
    ("ID5", "ID5 ID", "ID5 universal ID."),
    ("NetID", "netID", "netID (European Netid Foundation) ID."),
    ("FirstID", "FirstID", "FirstID publisher ID."),
    ("UtiqID", "Utiq ID", "Utiq martechpass."),
    ("MerkuryID", "Merkury ID", "Merkle Merkury ID."),
    ("RealID", "RealID", "RealID identifier."),
    ("IqviaPPID", "IQVIA PPID", "IQVIA pseudonymous patient ID."),
)


@register
class TheTradeDeskConnector(Connector):
    type = "the_trade_desk"
    label = "The Trade Desk (first-party data)"
    auth_method = "TTD-Auth API token (Platform API token, also accepted by the Data API)"
    default_base_url = PLATFORM_URL
    config_schema = config_schema(
        "The Trade Desk first-party segment",
        "Adds IDs to a first-party data segment of an advertiser through The Trade Desk Data API on a regional data "
        "server. Authentication: a TTD-Auth API token (Platform API token, lifetime up to one year) issued through "
        "The Trade Desk's Access Management or your TTD account team; the same token authorises the Platform API "
        "reads the checks use. Alternatives, not accepted here: the legacy TtdSignature header (HMAC-SHA1 of the "
        "body with the advertiser secret key), and short-lived tokens from POST /v3/authentication "
        "(login + password, at most 24 hours).",
        {
            "data_server": enum(
                "Regional data server: usw (US West), use (US East), euw (Europe), sin (Singapore), tok (Tokyo), "
                "cn (China).",
                list(DATA_SERVERS),
            ),
            "advertiser_id": string(
                "Advertiser ID the segment belongs to.",
                pattern="^[A-Za-z0-9]+$",
                **{"x-pattern-message": "Must be the alphanumeric Trade Desk advertiser ID."},
            ),
            "api_token": secret("TTD-Auth API token with access to the advertiser."),
            "segment_name": string(
                "First-party segment name (Data[].Name in every upload); The Trade Desk creates it on the first "
                "upload if it does not exist yet.",
                maxLength=200,
            ),
            "ttl_days": {
                "type": "integer",
                "minimum": 1,
                "maximum": 180,
                "default": 30,
                "description": "How long an uploaded ID stays in the segment, in days (sent as TtlInMinutes).",
            },
        },
        ["data_server", "advertiser_id", "api_token", "segment_name"],
    )
    steps = (
        Step(
            "connectivity",
            "DNS resolves, TCP connects and TLS is valid for the regional data server and api.thetradedesk.com.",
            10,
        ),
        Step("authentication", "The Platform API accepts the TTD-Auth token (GET /v3/advertiser/{id}).", 15),
        Step("advertiser", "The advertiser exists, the token's user may read it, and it is not archived.", 5),
        Step(
            "segment",
            "The first-party segment is looked up by name; a missing one is reported, as TTD creates it on the "
            "first upload.",
            15,
            required=False,
        ),
        Step(
            "data_access",
            "The data server accepts the token for this advertiser's first-party data: POST /data/advertiser with "
            "no items, so nothing is written.",
            15,
        ),
    )

    def __init__(self, config, *, policy=None):
        super().__init__(config, policy=policy)
        self._advertiser_response = None

    # --- steps ----------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(
            *(
                self.vendor_url(url)
                for url in (
                    f"{self.data_server}/",
                    "https://api.thetradedesk.com/",
                )
            )
        )

    def check_authentication(self):
        response = self._advertiser()
        if response.status_code in (200, 403, 404):
            return (
                f"The Platform API accepted the TTD-Auth token (HTTP {response.status_code}; the advertiser is "
                "checked next).",
                {"http_status": response.status_code},
            )
        raise self._error(response, "the advertiser (Platform API)")

    def check_advertiser(self):
        response = self._advertiser()
        if response.status_code != 200:
            raise self._error(response, "the advertiser (Platform API)")
        advertiser = body_json(response)
        details = {
            "advertiser_id": advertiser.get("AdvertiserId", self.config["advertiser_id"]),
            "name": advertiser.get("AdvertiserName", ""),
            "partner_id": advertiser.get("PartnerId", ""),
            "availability": advertiser.get("Availability", ""),
        }
        if advertiser.get("Availability") == "Archived":
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"Advertiser {self.config['advertiser_id']} is archived.",
                remediation="Un-archive the advertiser in The Trade Desk, or configure an active advertiser.",
                details=details,
            )
        return f"Advertiser '{details['name']}' ({details['advertiser_id']}) is available.", details

    def check_segment(self):
        name = self.config["segment_name"]
        response = self.http.post(
            self.vendor_url(f"{PLATFORM_URL}/dmp/firstparty/advertiser"),
            json={
                "AdvertiserId": self.config["advertiser_id"],
                "SearchTerms": [name],
                "PageStartIndex": 0,
                "PageSize": 100,
            },
            headers=self._headers(),
        )
        if response.status_code != 200:
            raise self._error(response, "the first-party segments (Platform API)")
        results = body_json(response).get("Result") or []
        match = next((r for r in results if isinstance(r, dict) and r.get("Name") == name), None)
        if match is None:
            return (
                f"No first-party segment named '{name}' yet; The Trade Desk creates it on the first upload.",
                {"exists": False, "segment_name": name},
            )
        details = {
            "exists": True,
            "segment_name": name,
            "first_party_data_id": match.get("FirstPartyDataId"),
            "unique_user_count": match.get("UniqueUserCount"),
        }
        return f"First-party segment '{name}' exists (FirstPartyDataId {match.get('FirstPartyDataId')}).", details

    def check_data_access(self):
        response = self.http.post(
            self.vendor_url(f"{self.data_server}/data/advertiser"),
            json={"AdvertiserId": self.config["advertiser_id"], "Items": []},
            headers=self._headers(),
        )
        body = body_json(response)
        server = self.config["data_server"]
        if response.status_code == 200:
            return (
                f"The {server} data server accepted an empty upload for advertiser {self.config['advertiser_id']} "
                "(nothing was written).",
                {"http_status": 200, "data_server": server},
            )
        if response.status_code == 400 and body.get("ErrorCode") == "MissingData":
            return (
                f"The {server} data server accepted the token and advertiser {self.config['advertiser_id']} and "
                "refused the empty probe for having no items, as expected (nothing was written).",
                {"http_status": 400, "vendor_code": "MissingData", "data_server": server},
            )
        raise self._error(response, f"the {server} data server")

    # --- helpers --------------------------------------------------------------------------------

    @property
    def data_server(self) -> str:
        return DATA_SERVERS[self.config["data_server"]]

    def _headers(self) -> dict:
        return {"TTD-Auth": self.config["api_token"], "Accept": "application/json"}

    def _advertiser(self):
        if self._advertiser_response is None:
            self._advertiser_response = self.http.get(
                self.vendor_url(f"{PLATFORM_URL}/advertiser/{self.config['advertiser_id']}"), headers=self._headers()
            )
        return self._advertiser_response

    def _error(self, response, what: str) -> ConnectorError:
        """TTD answers `{"ErrorCode", "Message"}` (Data API v2) or `{"Message", "ErrorDetails"}` (Platform API)."""
        body = body_json(response)
        vendor_code = str(body.get("ErrorCode") or "") or None
        reasons = [
            f"{d.get('Property')}: {'; '.join(map(str, d.get('Reasons') or []))}"
            for d in body.get("ErrorDetails") or []
            if isinstance(d, dict)
        ]
        text = " ".join([str(body.get("Message") or body.get("message") or ""), *reasons])
        message = self.redact(text)
        code, remediation = DATA_ERRORS.get(vendor_code or "", (None, ""))
        status = response.status_code
        if status == 401:
            expired = "expired" in message.lower()
            code = ErrorCode.TOKEN_EXPIRED if expired else ErrorCode.AUTH_INVALID
            remediation = NEW_TOKEN
        elif status == 403 and code is None:
            remediation = (
                f"Give the token's user access to advertiser {self.config['advertiser_id']} (or check the ID); "
                + ENABLE_DATA
            )
        elif status == 404 and code is None:
            remediation = f"Check advertiser_id {self.config['advertiser_id']}: The Trade Desk does not know it."
        elif status == 413:
            code = ErrorCode.INVALID_CONFIG
        remediation = remediation.format(advertiser=self.config["advertiser_id"], server=self.config["data_server"])
        return api_error(
            response, VENDOR, what, message=message, vendor_code=vendor_code, code=code, remediation=remediation
        )

    # --- fields ---------------------------------------------------------------------------------

    def describe_fields(self) -> FieldsDescription:
        fields = [
            identifier_field(
                name,
                label,
                f"Items[].{name}: {about} Sent as is; not hashed (already a pseudonymous ID).",
                must_hash=False,
            )
            for name, label, about in ID_TYPES
        ]
        ttl_minutes = int(self.config.get("ttl_days") or 30) * 1440
        return FieldsDescription(
            object="first_party_data_item",
            source="static",
            fields=fields,
            options={
                "endpoint": "POST /data/advertiser",
                "data_server": self.config.get("data_server"),
                "segment_name": self.config.get("segment_name"),
                "ttl_in_minutes": ttl_minutes,
                "one_id_per_item": True,
                "remove": "Send the same item with TtlInMinutes 0.",
                "max_request_bytes": 2_500_000,
                "sync_key": "The chosen ID type (one per item).",
            },
        )
