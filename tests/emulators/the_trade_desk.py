"""The Trade Desk Platform API's GraphQL endpoint (advertiser, its firstPartyData) and the Data API on one host.

Every call must carry the `TTD-Auth` header. GraphQL answers as TTD's public sample code reads it: `data`, plus
`errors[{message, extensions: {code}}]` (HotChocolate's AUTH_NOT_AUTHORIZED for an advertiser the user may not
see); an unauthenticated call is refused with HTTP 401. The Data API answers with the statuses its published
OpenAPI (thetradedesk/ttd-data-python `.speakeasy/out.openapi.yaml`) lists: 401 (invalid or missing token) and 403
(cannot create targeting data for this advertiser) with a JSON string; 400 "Invalid JSON, missing items, advertiser
not configured, or policy restrictions" with an AdvertiserDataServerResponse, whose FailedLines[].ErrorCode come
from the spec's AdvertiserDataResponseErrorCode enum (TargetingDataDisabled for an advertiser not set up,
TenantRestrictionsExternalData for a policy); 200 with `FailedLines` for row problems. `response_version` 2 answers
with the v2 envelope {ErrorCode, Message, FailedLines} (MissingData for an upload without items) that TTD's
first-party upload page documents. The setup and policy are checked before the items, as the spec's one 400 for
all four causes leaves open; `empty_upload_body` replaces the missing-items answer.
"""

from __future__ import annotations

from werkzeug.routing import Rule

from .base import Emulator

API_TOKEN = "ttd-emulator-api-token-0123456789"
ADVERTISER_ID = "adv4emu"
SEGMENT_NAME = "cdp_high_value"


RATE_LIMITED = {"FailedLines": []}  # the 429 body: AdvertiserDataServerResponse, per TTD's OpenAPI
SERVER_ERROR = {"Message": "An error has occurred."}
NOT_AUTHORIZED = "The current user is not authorized to access this resource."


class TheTradeDeskEmulator(Emulator):
    rules = (
        Rule("/graphql", endpoint="graphql", methods=["POST"]),
        Rule("/data/advertiser", endpoint="data", methods=["POST"]),
    )

    def reset_state(self) -> None:
        self.tokens = {API_TOKEN: {"expired": False, "advertisers": {ADVERTISER_ID}}}
        self.advertisers = {
            ADVERTISER_ID: {
                "id": ADVERTISER_ID,
                "name": "CDP Brand",
                "partner": {"id": "ptn7emu"},
                "isArchived": False,
            }
        }
        self.segment_lookup_status: int | None = None  # answer the firstPartyData query with this status instead
        self.data_enabled = {ADVERTISER_ID}  # advertisers set up for first-party data uploads
        self.segments = {
            ADVERTISER_ID: [
                {"id": "90000001", "name": SEGMENT_NAME, "activeUniques": {"idsCount": 5400}},
                {"id": "90000002", "name": f"{SEGMENT_NAME}_lookalike", "activeUniques": {"idsCount": 120}},
            ]
        }
        self.not_configured: set[str] = set()  # advertisers whose targeting data is disabled (400)
        self.policy_restricted: set[str] = set()  # advertisers a tenant policy keeps from external data (400)
        self.response_version = 1
        self.empty_items_status = 400  # an upload without items: TTD documents 400 for "missing items"
        self.empty_upload_body: object | None = None  # None: the documented answer of `response_version`
        self.items: list[dict] = []  # ingested items; a connection test must leave it empty

    def _token(self, request, refusal):
        value = request.headers.get("TTD-Auth")
        token = self.tokens.get(value or "")
        if token is None:
            return None, refusal("Invalid or missing authentication token.")
        if token["expired"]:
            return None, refusal("The authentication token has expired.")
        return token, None

    def on_graphql(self, request):
        token, denied = self._token(request, self._graphql_unauthenticated)
        if denied:
            return denied
        body = request.get_json(silent=True) or {}
        query, variables = str(body.get("query") or ""), body.get("variables") or {}
        advertiser_id = variables.get("id")
        advertiser = self.advertisers.get(advertiser_id)
        if advertiser is None:
            return self.json({"data": {"advertiser": None}})
        if advertiser_id not in token["advertisers"]:
            error = {"message": NOT_AUTHORIZED, "path": ["advertiser"], "extensions": {"code": "AUTH_NOT_AUTHORIZED"}}
            return self.json({"errors": [error], "data": {"advertiser": None}})
        if "firstPartyData" in query and self.segment_lookup_status:
            return self.json(SERVER_ERROR, self.segment_lookup_status)
        if "firstPartyData" in query:
            name = str(variables.get("name") or "").lower()
            found = [s for s in self.segments.get(advertiser_id, []) if name in s["name"].lower()]
            return self.json({"data": {"advertiser": {"firstPartyData": {"nodes": found[:100]}}}})
        return self.json({"data": {"advertiser": advertiser}})

    def _graphql_unauthenticated(self, message: str):
        error = {"message": message, "extensions": {"code": "AUTH_NOT_AUTHENTICATED"}}
        return self.json({"errors": [error]}, 401)

    def on_data(self, request):
        token, denied = self._token(request, lambda message: self.json(message, 401))
        if denied:
            return denied
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.json({"FailedLines": []}, 400)
        advertiser_id = body.get("AdvertiserId")
        if advertiser_id not in token["advertisers"] or advertiser_id not in self.data_enabled:
            return self.json("Cannot create new targeting data for this advertiser.", 403)
        if advertiser_id in self.not_configured:
            return self.refuse("TargetingDataDisabled", "Targeting data is disabled for this advertiser.")
        if advertiser_id in self.policy_restricted:
            return self.refuse("TenantRestrictionsExternalData", "Tenant restrictions forbid external data.")
        items = body.get("Items") or []
        if not items:
            if self.empty_upload_body is not None:
                return self.json(self.empty_upload_body, self.empty_items_status)
            if self.response_version == 2:
                missing = {"ErrorCode": "MissingData", "Message": "Items is required.", "FailedLines": []}
                return self.json(missing, self.empty_items_status)
            return self.json({"FailedLines": []}, self.empty_items_status)
        self.items.extend(items)
        return self.json({})

    def refuse(self, code: str, message: str):
        """A 400 naming why: a failed line in v1, the envelope's code too in v2."""
        body: dict = {"FailedLines": [{"ErrorCode": code, "Message": message}]}
        if self.response_version == 2:
            body = {"ErrorCode": code, "Message": message, **body}
        return self.json(body, 400)


EMULATOR = TheTradeDeskEmulator


def valid_config(emulator: TheTradeDeskEmulator) -> dict:
    return {
        "data_server": "usw",
        "advertiser_id": ADVERTISER_ID,
        "api_token": API_TOKEN,
        "segment_name": SEGMENT_NAME,
    }
