"""The Trade Desk Platform API (advertiser, first-party data lookup) and Data API (/data/advertiser) on one host.

Every call must carry the `TTD-Auth` header. Data API errors use the v2 envelope `{"ErrorCode", "Message"}`
(AuthenticationFailed, InvalidToken, IncorrectPermissions, AdvertiserMisconfigured, MissingData…); Platform API
errors are `{"Message", "ErrorDetails"}`. Row problems come back as 200 with `FailedLines`, like TTD.
"""

from __future__ import annotations

from werkzeug.routing import Rule

from .base import Emulator

API_TOKEN = "ttd-emulator-api-token-0123456789"
ADVERTISER_ID = "adv4emu"
SEGMENT_NAME = "cdp_high_value"


def data_error(code: str, message: str) -> dict:
    return {"ErrorCode": code, "Message": message}


def platform_error(message: str, **details) -> dict:
    body = {"Message": message}
    if details:
        body["ErrorDetails"] = [{"Property": key, "Reasons": [value]} for key, value in details.items()]
    return body


AUTH_FAILED = data_error("AuthenticationFailed", "The provided credentials could not be authenticated.")
INVALID_TOKEN = data_error("InvalidToken", "The provided token is invalid.")
EXPIRED_TOKEN = data_error("InvalidToken", "The provided token has expired.")
INCORRECT_PERMISSIONS = data_error(
    "IncorrectPermissions", "The provided credentials lack the required permissions for the specified ID."
)
ADVERTISER_MISCONFIGURED = data_error(
    "AdvertiserMisconfigured", "The provided AdvertiserId is not configured to send data on the requested resource."
)
MISSING_DATA = data_error("MissingData", "Items is required and must not be empty.")
RATE_LIMITED = data_error("TooManyRequests", "Rate limit exceeded.")
SERVER_ERROR = {"Message": "An error has occurred."}


class TheTradeDeskEmulator(Emulator):
    rules = (
        Rule("/v3/advertiser/<advertiser_id>", endpoint="advertiser", methods=["GET"]),
        Rule("/v3/dmp/firstparty/advertiser", endpoint="firstparty", methods=["POST"]),
        Rule("/data/advertiser", endpoint="data", methods=["POST"]),
    )

    def reset_state(self) -> None:
        self.tokens = {API_TOKEN: {"expired": False, "advertisers": {ADVERTISER_ID}}}
        self.advertisers = {
            ADVERTISER_ID: {
                "AdvertiserId": ADVERTISER_ID,
                "AdvertiserName": "CDP Brand",
                "PartnerId": "ptn7emu",
                "Availability": "Available",
                "CurrencyCode": "USD",
            }
        }
        self.data_enabled = {ADVERTISER_ID}  # advertisers set up for first-party data uploads
        self.segments = {
            ADVERTISER_ID: [
                {"FirstPartyDataId": 90000001, "Name": SEGMENT_NAME, "UniqueUserCount": 5400},
                {"FirstPartyDataId": 90000002, "Name": f"{SEGMENT_NAME}_lookalike", "UniqueUserCount": 120},
            ]
        }
        self.empty_items_ok = False  # False: an upload with no items is refused with 400 MissingData
        self.items: list[dict] = []  # ingested items; a connection test must leave it empty

    def _token(self, request):
        value = request.headers.get("TTD-Auth")
        if not value:
            return None, self.json(AUTH_FAILED, 401)
        token = self.tokens.get(value)
        if token is None:
            return None, self.json(INVALID_TOKEN, 401)
        if token["expired"]:
            return None, self.json(EXPIRED_TOKEN, 401)
        return token, None

    def on_advertiser(self, request, advertiser_id):
        token, denied = self._token(request)
        if denied:
            return denied
        if advertiser_id not in self.advertisers:
            return self.json(platform_error(f"Advertiser '{advertiser_id}' was not found."), 404)
        if advertiser_id not in token["advertisers"]:
            return self.json(platform_error("Access denied.", AdvertiserId="The user has no access to it."), 403)
        return self.json(self.advertisers[advertiser_id])

    def on_firstparty(self, request):
        token, denied = self._token(request)
        if denied:
            return denied
        body = request.get_json(silent=True) or {}
        advertiser_id = body.get("AdvertiserId")
        if advertiser_id not in token["advertisers"]:
            return self.json(platform_error("Access denied.", AdvertiserId="The user has no access to it."), 403)
        terms = [t.lower() for t in body.get("SearchTerms") or []]
        found = [s for s in self.segments.get(advertiser_id, []) if all(t in s["Name"].lower() for t in terms)]
        start, size = int(body.get("PageStartIndex", 0)), int(body.get("PageSize", 10))
        return self.json({"Result": found[start : start + size], "ResultCount": len(found)})

    def on_data(self, request):
        token, denied = self._token(request)
        if denied:
            return denied
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.json(data_error("SerializationFailed", "Request body could not be deserialized."), 400)
        advertiser_id = body.get("AdvertiserId")
        if advertiser_id not in token["advertisers"]:
            return self.json(INCORRECT_PERMISSIONS, 403)
        if advertiser_id not in self.data_enabled:
            return self.json(ADVERTISER_MISCONFIGURED, 403)
        items = body.get("Items") or []
        if not items:
            return self.json({}) if self.empty_items_ok else self.json(MISSING_DATA, 400)
        self.items.extend(items)
        return self.json({})


EMULATOR = TheTradeDeskEmulator


def valid_config(emulator: TheTradeDeskEmulator) -> dict:
    return {
        "data_server": "usw",
        "advertiser_id": ADVERTISER_ID,
        "api_token": API_TOKEN,
        "segment_name": SEGMENT_NAME,
    }
