"""A Salesforce org and its login server: version list, OAuth refresh-token exchange, limits and sObject describe.

State: the connected app (`client_id`, `client_secret`), `refresh_tokens` (token -> granted scopes),
`expired_refresh_tokens`, whether the user has `api_enabled`, the `sobjects` it can see (describe bodies), the
daily API usage shown in Sforce-Limit-Info, `rotate_refresh_tokens` (refresh-token rotation: each exchange
issues a new refresh token and revokes the old one) and whether the user has `view_all_data`. Errors follow
Salesforce: the token endpoint answers {"error", "error_description"}; REST answers a JSON array of
{"message", "errorCode", "fields"}.

The query resource answers one SOQL statement, the current user's own permission as the UserPermissionAccess
object documents it (API 41.0 and later; "API users without PermissionsViewSetup can use this object to check
if their own sessions have access to a feature"): SELECT PermissionsViewAllData FROM UserPermissionAccess.
"""

from __future__ import annotations

import base64
import copy
import secrets

from werkzeug.routing import Rule

from .base import Emulator
from .oauth_consent import ConsentServer

CLIENT_ID = "3MVG9A2kN3Bn17hs8MIaQx1voVGy662rXlC37svtmLmt6wO_iik8Hnk3DlcYjKRvzVNGWLFlGRH1ryHwS217h"
CLIENT_SECRET = "5A8C1E3F0B2D4F6A8C0E2B4D6F8A0C2E4B6D8F0A2C4E6B8D0F2A4C6E8B0D2F4"
REFRESH_TOKEN = "5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJo7Xr34yOQ7GCFUN5DnNPxzDIoGoWi4evqOl_gM8ecE.ZNL2vK"
EXPIRED_REFRESH_TOKEN = "5Aep861TSESvWeug_expired_refresh_token_value"
ORG_ID = "00D5g000004SPreEAG"
USER_ID = "0055g00000AbCdEAAV"
VERSIONS = (
    ("Summer '17", "40.0"),
    ("Winter '18", "41.0"),
    ("Summer '25", "64.0"),
    ("Winter '26", "65.0"),
    ("Spring '26", "66.0"),
)
PERMISSION_QUERY = "SELECT PermissionsViewAllData FROM UserPermissionAccess"


def _field(
    name,
    label,
    type_="string",
    *,
    createable=True,
    updateable=True,
    nillable=True,
    defaulted=False,
    external_id=False,
    id_lookup=False,
    unique=False,
    custom=False,
    length=0,
    reference_to=(),
    picklist=(),
):
    return {
        "name": name,
        "label": label,
        "type": type_,
        "length": length,
        "custom": custom,
        "createable": createable,
        "updateable": updateable,
        "nillable": nillable,
        "defaultedOnCreate": defaulted,
        "externalId": external_id,
        "idLookup": id_lookup,
        "unique": unique,
        "calculated": False,
        "referenceTo": list(reference_to),
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v} for v in picklist
        ],
        "soapType": "xsd:string",
    }


def describe(name, label, fields, *, createable=True, updateable=True, custom=False, key_prefix="003"):
    return {
        "name": name,
        "label": label,
        "labelPlural": label + "s",
        "keyPrefix": key_prefix,
        "custom": custom,
        "createable": createable,
        "updateable": updateable,
        "deletable": createable,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "fields": fields,
        "urls": {"describe": f"/services/data/v66.0/sobjects/{name}/describe"},
    }


CONTACT = describe(
    "Contact",
    "Contact",
    [
        _field(
            "Id",
            "Contact ID",
            "id",
            createable=False,
            updateable=False,
            nillable=False,
            defaulted=True,
            id_lookup=True,
            length=18,
        ),
        _field("LastName", "Last Name", nillable=False, length=80),
        _field("FirstName", "First Name", length=40),
        _field("Name", "Full Name", createable=False, updateable=False, nillable=False, length=121),
        _field("Email", "Email", "email", id_lookup=True, length=80),
        _field("AccountId", "Account ID", "reference", reference_to=("Account",), length=18),
        _field("OwnerId", "Owner ID", "reference", nillable=False, defaulted=True, reference_to=("User",), length=18),
        _field("LeadSource", "Lead Source", "picklist", picklist=("Web", "Phone Inquiry", "Partner Referral")),
        _field("Birthdate", "Birthdate", "date"),
        _field("HasOptedOutOfEmail", "Email Opt Out", "boolean", nillable=False, defaulted=True),
        _field(
            "CreatedDate",
            "Created Date",
            "datetime",
            createable=False,
            updateable=False,
            nillable=False,
            defaulted=True,
        ),
        _field(
            "Warehouse_Id__c", "Warehouse Id", external_id=True, id_lookup=True, unique=True, custom=True, length=64
        ),
        # An External ID without 'Unique' (a non-unique index): upserting on it needs View All Data.
        _field("Legacy_Key__c", "Legacy Key", external_id=True, id_lookup=True, custom=True, length=32),
        _field("Loyalty_Tier__c", "Loyalty Tier", "picklist", custom=True, picklist=("Gold", "Silver")),
    ],
)
LOGIN_HISTORY = describe(
    "LoginHistory",
    "Login History",
    [_field("Id", "Login History ID", "id", createable=False, updateable=False, nillable=False, id_lookup=True)],
    createable=False,
    updateable=False,
    key_prefix="0Ya",
)


class SalesforceEmulator(ConsentServer, Emulator):
    """Also the web server flow: /services/oauth2/authorize (consent) and the authorization_code grant."""

    vendor = "Salesforce"
    denial = {"error": "access_denied", "error_description": "end-user denied authorization"}
    rules = (
        Rule("/services/data/", endpoint="versions", methods=["GET"]),
        Rule("/services/oauth2/authorize", endpoint="authorize", methods=["GET", "POST"]),
        Rule("/services/oauth2/token", endpoint="token", methods=["POST"]),
        Rule("/services/data/v<version>/limits", endpoint="limits", methods=["GET"]),
        Rule("/services/data/v<version>/sobjects/<sobject>/describe", endpoint="describe", methods=["GET"]),
        Rule("/services/data/v<version>/query", endpoint="query", methods=["GET"]),
    )

    def reset_state(self) -> None:
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.refresh_tokens: dict[str, str] = {REFRESH_TOKEN: "refresh_token api id"}
        self.expired_refresh_tokens = {EXPIRED_REFRESH_TOKEN}
        self.access_tokens: set[str] = set()
        self.rotate_refresh_tokens = False
        self.api_enabled = True
        self.view_all_data = False
        self.limits_visible = True
        self.sobjects = {"Contact": copy.deepcopy(CONTACT), "LoginHistory": copy.deepcopy(LOGIN_HISTORY)}
        self.api_usage = [18, 15000]
        self.reset_consent(CLIENT_ID)

    def revoke(self, refresh_token: str) -> None:
        """The user or an admin revoked the app's access (Connected Apps OAuth Usage › Revoke)."""
        self.refresh_tokens.pop(refresh_token, None)

    # --- Salesforce's answers -------------------------------------------------------------------

    @staticmethod
    def rest_error(status: int, error_code: str, message: str, fields=()):
        return Emulator.json([{"message": message, "errorCode": error_code, "fields": list(fields)}], status)

    @staticmethod
    def token_error(error: str, description: str, status: int = 400):
        return Emulator.json({"error": error, "error_description": description}, status)

    def rate_limit(self, endpoint: str, *, concurrent: bool = False) -> None:
        """Salesforce's answer to an exhausted allocation: 403 REQUEST_LIMIT_EXCEEDED (no Retry-After)."""
        message = "ConcurrentPerOrgLongTxn Limit exceeded." if concurrent else "TotalRequests Limit exceeded."
        self.fail(endpoint, 403, [{"message": message, "errorCode": "REQUEST_LIMIT_EXCEEDED"}])

    def server_error(self, endpoint: str, status: int = 500) -> None:
        if status == 503:
            body = [{"message": "Server is temporarily unavailable.", "errorCode": "SERVER_UNAVAILABLE"}]
        else:
            body = [
                {
                    "message": "An unexpected error occurred. Please include this ErrorId if you contact support: "
                    "1934736135-61870 (-1398542397)",
                    "errorCode": "UNKNOWN_EXCEPTION",
                }
            ]
        self.fail(endpoint, status, body)

    def _usage_headers(self) -> dict:
        self.api_usage[0] += 1
        return {"Sforce-Limit-Info": f"api-usage={self.api_usage[0]}/{self.api_usage[1]}"}

    def on_versions(self, request):
        return self.json([{"label": label, "url": f"/services/data/v{v}", "version": v} for label, v in VERSIONS])

    def on_token(self, request):
        form = request.form
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if form.get("grant_type") not in ("refresh_token", "authorization_code"):
            return self.token_error("unsupported_grant_type", "grant type not supported")
        if client_id != self.client_id:
            return self.token_error("invalid_client_id", "client identifier invalid")
        if self.client_secret and client_secret != self.client_secret:
            return self.token_error("invalid_client", "invalid client credentials")
        if form.get("grant_type") == "authorization_code":
            return self._code_token(form)
        with self.token_lock:  # a rotation consumes the old refresh token exactly once
            return self._refresh_token(form)

    def _code_token(self, form):
        grant, why = self.take_code(form)
        if grant is None:
            description = {
                "redirect_uri_mismatch": "redirect_uri must match configuration",
                "invalid_code_verifier": "invalid code verifier",
            }.get(why, "invalid authorization code")
            return self.token_error("invalid_grant" if why != "redirect_uri_mismatch" else why, description)
        refresh_token = f"5Aep861{secrets.token_urlsafe(40)}"
        self.refresh_tokens[refresh_token] = " ".join(grant["scopes"])
        answer = self._access_answer(refresh_token)
        answer["refresh_token"] = refresh_token
        return self.json(answer)

    def _access_answer(self, refresh_token: str) -> dict:
        access_token = f"{ORG_ID}!AR{secrets.token_urlsafe(48)}"
        self.access_tokens.add(access_token)
        return {
            "access_token": access_token,
            "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
            "scope": self.refresh_tokens[refresh_token],
            "instance_url": self.url,
            "id": f"{self.url}/id/{ORG_ID}/{USER_ID}",
            "token_type": "Bearer",
            "issued_at": "1764140000000",
        }

    def _refresh_token(self, form):
        refresh_token = form.get("refresh_token", "")
        if refresh_token in self.expired_refresh_tokens:
            return self.token_error("invalid_grant", "expired access/refresh token")
        if refresh_token not in self.refresh_tokens:
            return self.token_error("invalid_grant", "authentication failure")
        answer = self._access_answer(refresh_token)
        if self.rotate_refresh_tokens:
            rotated = secrets.token_urlsafe(64)
            self.refresh_tokens[rotated] = self.refresh_tokens.pop(refresh_token)
            answer["refresh_token"] = rotated
        return self.json(answer)

    def _refuse(self, request, version: str):
        """The answer a REST call gets before its own logic: bad session, API off, unknown version."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.access_tokens:
            return self.rest_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if not self.api_enabled:
            return self.rest_error(403, "API_DISABLED_FOR_ORG", "The REST API is not enabled for this Organization.")
        if version not in {v for _label, v in VERSIONS}:
            return self.rest_error(404, "NOT_FOUND", "The requested resource does not exist")
        return None

    def on_limits(self, request, version):
        refusal = self._refuse(request, version)
        if refusal:
            return refusal
        if not self.limits_visible:
            return self.rest_error(403, "INSUFFICIENT_ACCESS", "You don't have permission to view this information.")
        used, limit = self.api_usage
        body = {
            "DailyApiRequests": {"Max": limit, "Remaining": limit - used},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
        }
        return self.json(body, headers=self._usage_headers())

    def on_query(self, request, version):
        refusal = self._refuse(request, version)
        if refusal:
            return refusal
        soql = " ".join(request.args.get("q", "").split())
        if soql.lower() != PERMISSION_QUERY.lower():
            return self.rest_error(400, "MALFORMED_QUERY", "unexpected token in the query")
        if float(version) < 41.0:
            return self.rest_error(
                400, "INVALID_TYPE", "sObject type 'UserPermissionAccess' is not supported.", fields=()
            )
        record = {
            "attributes": {"type": "UserPermissionAccess"},
            "PermissionsViewAllData": self.view_all_data,
        }
        return self.json({"totalSize": 1, "done": True, "records": [record]}, headers=self._usage_headers())

    def on_describe(self, request, version, sobject):
        refusal = self._refuse(request, version)
        if refusal:
            return refusal
        if sobject not in self.sobjects:
            return self.rest_error(404, "NOT_FOUND", "The requested resource does not exist")
        return self.json(self.sobjects[sobject], headers=self._usage_headers())


def valid_config(emulator: SalesforceEmulator) -> dict:
    return {
        "instance_url": emulator.url,
        "login_url": emulator.url,
        "api_version": "66.0",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "object": "Contact",
        "external_id_field": "Warehouse_Id__c",
    }


EMULATOR = SalesforceEmulator
