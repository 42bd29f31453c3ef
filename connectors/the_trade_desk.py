"""The Trade Desk first-party data segments, filled through the Data API on a regional data server.

The TTD-Auth token and the advertiser are checked with the Platform API's GraphQL endpoint (the advertiser query);
the segment is looked up by name in the advertiser's firstPartyData (TTD creates it on the first upload if it
does not exist). The data path is probed with POST /data/advertiser carrying no items, which writes nothing. TTD's
Data API spec (thetradedesk/ttd-data-python `.speakeasy/out.openapi.yaml`) gives 401 for a refused token, 403 for
an advertiser that may not create targeting data, and one 400 for "Invalid JSON, missing items, advertiser not
configured, or policy restrictions" whose AdvertiserDataServerResponse body tells them apart: only the
missing-items answer passes.
"""

from __future__ import annotations

from ._audience import identifier_field
from .runtime.base import Connector, FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, enum, secret, string
from .runtime.vendor import ErrorTable, Rule, read_json

GRAPHQL_URL = "https://desk.thetradedesk.com/graphql"
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
DATA_POLICY = (
    "A Trade Desk data policy (tenant restrictions on external data) refuses first-party uploads for advertiser "
    "{advertiser}: ask your Trade Desk account team to allow first-party data for this advertiser."
)
UNEXPECTED_400 = (
    "The data server refused the upload without items for another reason than the missing items; ask your Trade "
    "Desk account team about first-party data uploads for advertiser {advertiser}, quoting the message."
)
UPLOAD_DOC = (
    "https://open.thetradedesk.com/advertiser/docsApp/GuidesAdvertiser/data/doc/post-data-advertiser-firstparty"
)
# The codes of a 400 from the data server (TTD's Data API spec: AdvertiserDataResponseErrorCode per failed line;
# the v2 response's ErrorCode envelope). MissingData ("a required field was absent or empty") is the answer to an
# upload without items; the others say the advertiser is not set up, or a policy refuses its data.
MISSING_ITEMS = "MissingData"
NOT_CONFIGURED = ("TargetingDataDisabled", "AdvertiserMisconfigured", "IncorrectPermissions")
POLICY = ("TenantRestrictionsExternalData",)
ADVERTISER_QUERY = """query Advertiser($id: ID!) {
  advertiser(id: $id) { id name isArchived partner { id } }
}"""
SEGMENT_QUERY = """query FirstPartyData($id: ID!, $name: String!) {
  advertiser(id: $id) {
    firstPartyData(first: 100, where: { name: { contains: $name } }) {
      nodes { id name activeUniques { idsCount } }
    }
  }
}"""


def _ttd_fault(body: dict) -> tuple[str, str]:
    """(code, message): the Data API's {ErrorCode, Message} or its first FailedLines[] entry, or a GraphQL
    answer's first errors[] entry."""
    first = next((e for e in body.get("errors") or [] if isinstance(e, dict)), {})
    line = next((e for e in _failed_lines(body) if e.get("ErrorCode")), {})
    code = body.get("ErrorCode") or line.get("ErrorCode") or (first.get("extensions") or {}).get("code")
    return code, body.get("Message") or body.get("message") or line.get("Message") or first.get("message")


def _failed_lines(body: dict) -> list[dict]:
    lines = body.get("FailedLines")
    return [line for line in lines if isinstance(line, dict)] if isinstance(lines, list) else []


def _data_answer(response) -> dict:
    """The data server's answer as an object: a plain-text (or JSON string) body becomes {"Message": text}, as
    TTD's own SDK normalises it (ttd-data-python `src/ttd_data/_hooks/plain_text_error_normalizer.py`)."""
    body = read_json(response)
    if body or (response.text or "").lstrip().startswith("{"):
        return body
    try:
        said = response.json()
    except ValueError:
        said = response.text
    said = str(said or "").strip()
    return {"Message": said} if said else {}


def is_missing_items_answer(body: dict) -> bool:
    """The documented answer to an upload without items, and nothing else: an AdvertiserDataServerResponse naming
    no failed line (v1, the default response version), or the v2 envelope's MissingData."""
    if set(body) - {"FailedLines", "ErrorCode", "Message"} or _failed_lines(body):
        return False
    if body.get("ErrorCode"):
        return body["ErrorCode"] == MISSING_ITEMS
    return "FailedLines" in body


_TOKEN_RULES = (
    Rule(ErrorCode.TOKEN_EXPIRED, NEW_TOKEN, status=401, message="expired"),
    Rule(ErrorCode.AUTH_INVALID, NEW_TOKEN, status=401),
)
# The Platform API's GraphQL endpoint: HTTP 401 for a refused token; errors[] with HTTP 200 for a refused query.
PLATFORM_ERRORS = ErrorTable(
    VENDOR,
    rules=(
        *_TOKEN_RULES,
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS, "Give the token's user access to advertiser {advertiser}.", status=403
        ),
        Rule(ErrorCode.AUTH_INVALID, NEW_TOKEN, status=200, vendor_code="AUTH_NOT_AUTHENTICATED"),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "Give the token's user access to advertiser {advertiser} (or check the ID).",
            status=200,
            vendor_code="AUTH_NOT_AUTHORIZED",
        ),
        Rule(ErrorCode.VENDOR_ERROR, status=200),
    ),
    extract=_ttd_fault,
)
# The data server: by status, and a 400 by the codes of its body.
DATA_ERRORS = ErrorTable(
    VENDOR,
    rules=(
        *_TOKEN_RULES,
        Rule(ErrorCode.INSUFFICIENT_PERMISSIONS, ENABLE_DATA, status=403),
        Rule(ErrorCode.INSUFFICIENT_PERMISSIONS, ENABLE_DATA, status=400, vendor_code=NOT_CONFIGURED),
        Rule(ErrorCode.INSUFFICIENT_PERMISSIONS, ENABLE_DATA, status=400, message="not configured"),
        Rule(ErrorCode.INSUFFICIENT_PERMISSIONS, DATA_POLICY, status=400, vendor_code=POLICY),
        Rule(ErrorCode.INSUFFICIENT_PERMISSIONS, DATA_POLICY, status=400, message="polic"),
        Rule(ErrorCode.INVALID_CONFIG, UNEXPECTED_400, status=400),
        Rule(ErrorCode.INVALID_CONFIG, "Check data_server is the region your account uses.", status=404),
        Rule(ErrorCode.INVALID_CONFIG, status=413),
    ),
    extract=_ttd_fault,
)
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
    example_config = {
        "data_server": "usw",
        "advertiser_id": "abc123x",
        "api_token": "your-advertiser-data-token",
        "segment_name": "High-value customers",
    }
    auth_method = "TTD-Auth API token (Platform API token, also accepted by the Data API)"
    default_base_url = "https://desk.thetradedesk.com"
    config_schema = config_schema(
        "The Trade Desk first-party segment",
        "Adds IDs to a first-party data segment of an advertiser through The Trade Desk Data API on a regional data "
        "server. Authentication: a TTD-Auth API token (Platform API token, lifetime up to one year) issued through "
        "The Trade Desk's Access Management or your TTD account team; the same token authorises the Platform API "
        "(GraphQL) reads the checks use. Alternatives, not accepted here: the legacy TtdSignature header (HMAC-SHA1 "
        "of the body with the advertiser secret key), and short-lived tokens from POST /v3/authentication "
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
            "DNS resolves, TCP connects and TLS is valid for the regional data server and desk.thetradedesk.com.",
            10,
        ),
        Step("authentication", "The Platform API (GraphQL) accepts the TTD-Auth token.", 15),
        Step("advertiser", "The advertiser exists, the token's user may read it, and it is not archived.", 5),
        Step(
            "segment",
            "The first-party segment is looked up by name in the advertiser's first-party data; a missing one is "
            "reported, as TTD creates it on the first upload.",
            15,
            required=False,
        ),
        Step(
            "data_access",
            "The advertiser may upload first-party data on the regional data server: POST /data/advertiser with no "
            "items (nothing is written) must answer with TTD's missing-items refusal; a 403, or a 400 saying the "
            "advertiser is not configured or a policy restricts its data, fails.",
            15,
            proves=(
                Requirement(
                    "first-party data upload for the advertiser (Data API)",
                    UPLOAD_DOC,
                    proof="POST /data/advertiser without items: the token, the advertiser's setup and its data "
                    "policies are checked before the missing items (TTD's Data API spec, 400/403).",
                ),
            ),
        ),
    )

    def __init__(self, config, *, policy=None):
        super().__init__(config, policy=policy)
        self._advertiser_answer = None

    # --- steps ----------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(*(self.vendor_url(url) for url in (f"{self.data_server}/", "https://desk.thetradedesk.com/")))

    def check_authentication(self):
        response, _body = self._advertiser()
        if response.status_code == 200:
            return (
                "The Platform API accepted the TTD-Auth token (the advertiser is checked next).",
                {"http_status": 200},
            )
        raise self._error(response, "the advertiser (Platform API)")

    def check_advertiser(self):
        response, body = self._advertiser()
        if response.status_code != 200:
            raise self._error(response, "the advertiser (Platform API)")
        advertiser = self._graphql_data(response, body, "the advertiser (Platform API)")
        if advertiser is None:
            raise ConnectorError(
                ErrorCode.NOT_FOUND,
                f"The Trade Desk knows no advertiser {self.config['advertiser_id']} that this token can see.",
                remediation=f"Check advertiser_id {self.config['advertiser_id']}: The Trade Desk does not know it.",
            )
        details = {
            "advertiser_id": advertiser.get("id", self.config["advertiser_id"]),
            "name": advertiser.get("name", ""),
            "partner_id": (advertiser.get("partner") or {}).get("id", ""),
            "archived": bool(advertiser.get("isArchived")),
        }
        if details["archived"]:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"Advertiser {self.config['advertiser_id']} is archived.",
                remediation="Un-archive the advertiser in The Trade Desk, or configure an active advertiser.",
                details=details,
            )
        return f"Advertiser '{details['name']}' ({details['advertiser_id']}) is available.", details

    def check_segment(self):
        name = self.config["segment_name"]
        what = "the first-party segments (Platform API)"
        response, body = self._graphql(SEGMENT_QUERY, {"id": self.config["advertiser_id"], "name": name})
        if response.status_code != 200:
            raise self._error(response, what)
        advertiser = self._graphql_data(response, body, what) or {}
        nodes = (advertiser.get("firstPartyData") or {}).get("nodes") or []
        match = next((n for n in nodes if isinstance(n, dict) and n.get("name") == name), None)
        if match is None:
            return (
                f"No first-party segment named '{name}' yet; The Trade Desk creates it on the first upload.",
                {"exists": False, "segment_name": name},
            )
        details = {
            "exists": True,
            "segment_name": name,
            "first_party_data_id": match.get("id"),
            "unique_id_count": (match.get("activeUniques") or {}).get("idsCount"),
        }
        return f"First-party segment '{name}' exists (id {match.get('id')}).", details

    def check_data_access(self):
        response = self.http.post(
            self.vendor_url(f"{self.data_server}/data/advertiser"),
            json={"AdvertiserId": self.config["advertiser_id"], "Items": []},
            headers=self._headers(),
        )
        server = self.config["data_server"]
        advertiser = self.config["advertiser_id"]
        details = {"http_status": response.status_code, "data_server": server}
        if response.status_code == 200:
            return (
                f"The {server} data server accepted an upload without items for advertiser {advertiser} "
                "(nothing was written).",
                details,
            )
        if response.status_code == 400 and is_missing_items_answer(_data_answer(response)):
            return (
                f"The {server} data server accepted the token and advertiser {advertiser}, and refused the upload "
                "only for its missing items (nothing was written).",
                details,
            )
        raise self._error(response, f"the {server} data server", data=True)

    # --- helpers --------------------------------------------------------------------------------

    @property
    def data_server(self) -> str:
        return DATA_SERVERS[self.config["data_server"]]

    def _headers(self) -> dict:
        return {"TTD-Auth": self.config["api_token"], "Accept": "application/json"}

    def _graphql(self, query: str, variables: dict):
        response = self.http.post(
            self.vendor_url(GRAPHQL_URL), json={"query": query, "variables": variables}, headers=self._headers()
        )
        return response, read_json(response)

    def _advertiser(self):
        if self._advertiser_answer is None:
            self._advertiser_answer = self._graphql(ADVERTISER_QUERY, {"id": self.config["advertiser_id"]})
        return self._advertiser_answer

    def _graphql_data(self, response, body: dict, what: str) -> dict | None:
        """`data.advertiser` of a GraphQL answer; `errors` (HTTP 200 in GraphQL) become a ConnectorError."""
        if body.get("errors"):
            raise self._error(response, what)
        data = body.get("data") or {}
        advertiser = data.get("advertiser") if isinstance(data, dict) else None
        return advertiser if isinstance(advertiser, dict) else None

    def _error(self, response, what: str, *, data: bool = False) -> ConnectorError:
        context = {"advertiser": self.config["advertiser_id"], "server": self.config["data_server"]}
        if not data:
            return PLATFORM_ERRORS.error(response, doing=f"checking {what}", context=context)
        # The data server may answer in plain text: its rules are matched against the normalised answer.
        code, message = (" ".join(str(part or "").split()) for part in _ttd_fault(_data_answer(response)))
        rule = DATA_ERRORS.rule_for(response.status_code, code, message)
        return DATA_ERRORS.error(
            response,
            doing=f"checking {what}",
            context=context,
            code=rule.code if rule else None,
            remediation=rule.remediation if rule else "",
            summary="" if read_json(response) or not message else f"The data server said: {message}",
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
