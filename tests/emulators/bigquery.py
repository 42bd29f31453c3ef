"""A BigQuery REST double plus the Google OAuth token endpoint a service-account key's `token_uri` points at.

`GoogleEmulator` (also the base of the Cloud Storage double) verifies the JWT-bearer assertion as Google
does: signed RS256 by a registered key of the service account (`kid` = private_key_id), audience Google's
token URL, a short lifetime and a scope; it then checks `Authorization: Bearer` tokens and their scopes.
"""

from __future__ import annotations

import json
import re
import secrets
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.routing import Rule

from .base import Emulator

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
BIGQUERY_SCOPE = "https://www.googleapis.com/auth/bigquery"
WRITER_EMAIL = "cdp-writer@acme-data.iam.gserviceaccount.com"


def service_account_info(
    emulator: GoogleEmulator, *, email: str = WRITER_EMAIL, project_id: str = "acme-data", register: bool = True
) -> dict:
    """A fresh service-account key file (RSA key made now) whose token_uri is the emulator's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_id = secrets.token_hex(20)
    if register:
        emulator.register_key(email, key_id, key.public_key())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": key_id,
        "private_key": pem.decode(),
        "client_email": email,
        "client_id": "104" + secrets.token_hex(8),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": f"{emulator.url}/token",
        "universe_domain": "googleapis.com",
    }


class GoogleEmulator(Emulator):
    """The OAuth token endpoint and Bearer checks shared by the Google API doubles."""

    rules = (
        Rule("/", endpoint="root", methods=["GET", "HEAD"]),
        Rule("/token", endpoint="token", methods=["GET", "POST"]),
    )
    scope = CLOUD_PLATFORM

    def reset_state(self) -> None:
        self.keys: dict[tuple[str, str], object] = {}  # (client_email, private_key_id) -> public key
        self.disabled_accounts: set[str] = set()
        self.access_tokens: dict[str, dict] = {}  # token -> {"email", "scopes", "expires"}
        self.assertions: list[dict] = []

    def register_key(self, email: str, key_id: str, public_key) -> None:
        self.keys[(email, key_id)] = public_key

    @staticmethod
    def google_error(status: int, message: str, reason: str, status_text: str):
        return Emulator.json(
            {
                "error": {
                    "code": status,
                    "message": message,
                    "errors": [{"message": message, "domain": "global", "reason": reason}],
                    "status": status_text,
                }
            },
            status,
        )

    def rate_limit(self, endpoint: str, retry_after: int = 30, times: int | None = None) -> None:
        message = "Quota exceeded: too many API requests per user per method."
        body = {
            "error": {
                "code": 429,
                "message": message,
                "status": "RESOURCE_EXHAUSTED",
                "errors": [{"message": message, "domain": "usageLimits", "reason": "rateLimitExceeded"}],
            }
        }
        self.fail(endpoint, 429, body, headers={"Retry-After": str(retry_after)}, times=times)

    def server_error(self, endpoint: str, times: int | None = None) -> None:
        body = {
            "error": {
                "code": 503,
                "message": "The service is currently unavailable.",
                "errors": [{"message": "Backend Error", "domain": "global", "reason": "backendError"}],
                "status": "UNAVAILABLE",
            }
        }
        self.fail(endpoint, 503, body, times=times)

    def expire_tokens(self) -> None:
        for grant in self.access_tokens.values():
            grant["expires"] = 0

    @staticmethod
    def oauth_error(error: str, description: str, status: int = 400):
        return Emulator.json({"error": error, "error_description": description}, status)

    def on_root(self, request):
        return self.json({"error": {"code": 404, "message": "Not Found"}}, 404)

    def on_token(self, request):
        if request.method == "GET":
            return self.json({"error": "invalid_request", "error_description": "POST only"}, 405)
        if request.form.get("grant_type") != JWT_BEARER:
            return self.oauth_error("unsupported_grant_type", "Invalid grant_type.")
        assertion = request.form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return self.oauth_error("invalid_grant", "Invalid JWT: malformed assertion.")
        email = unverified.get("iss", "")
        if not any(known == email for known, _ in self.keys) or email in self.disabled_accounts:
            return self.oauth_error("invalid_grant", "Invalid grant: account not found")
        public_key = self.keys.get((email, header.get("kid", "")))
        if public_key is None:
            return self.oauth_error("invalid_grant", "Invalid JWT Signature.")
        try:
            claims = jwt.decode(
                assertion,
                public_key,
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_AUDIENCE,
                options={"require": ["iss", "aud", "iat", "exp"]},
            )
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            return self.oauth_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and "
                "in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        except jwt.InvalidAudienceError:
            return self.oauth_error("invalid_grant", "Invalid JWT: Failed audience check.")
        except jwt.InvalidTokenError:
            return self.oauth_error("invalid_grant", "Invalid JWT Signature.")
        if claims["exp"] - claims["iat"] > 3600:
            return self.oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes).")
        scopes = set(str(claims.get("scope", "")).split())
        if not scopes:
            return self.oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        self.assertions.append(claims)
        token = "ya29." + secrets.token_urlsafe(32)
        self.access_tokens[token] = {"email": email, "scopes": scopes, "expires": time.time() + 3599}
        return self.json({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def authorize(self, request) -> tuple[str | None, object]:
        """(client_email, None) for a live Bearer token with the API's scope, else (None, the error answer)."""
        auth = request.headers.get("Authorization", "")
        grant = self.access_tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if grant is None or grant["expires"] < time.time():
            return None, self.google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                "other valid authentication credential.",
                "authError",
                "UNAUTHENTICATED",
            )
        if self.scope not in grant["scopes"] and CLOUD_PLATFORM not in grant["scopes"]:
            return None, self.google_error(
                403, "Request had insufficient authentication scopes.", "insufficientPermissions", "PERMISSION_DENIED"
            )
        return grant["email"], None


def customers_table(project: str, dataset: str, table: str, location: str = "US") -> dict:
    return {
        "kind": "bigquery#table",
        "id": f"{project}:{dataset}.{table}",
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
        "type": "TABLE",
        "location": location,
        "schema": {
            "fields": [
                {"name": "customer_id", "type": "STRING", "mode": "REQUIRED"},
                {
                    "name": "email",
                    "type": "STRING",
                    "mode": "NULLABLE",
                    "description": "Primary e-mail",
                    "maxLength": "320",
                },
                {"name": "lifetime_value", "type": "NUMERIC", "mode": "NULLABLE"},
                {"name": "score", "type": "FLOAT", "mode": "REQUIRED"},
                {"name": "tags", "type": "STRING", "mode": "REPEATED"},
                {
                    "name": "address",
                    "type": "RECORD",
                    "mode": "NULLABLE",
                    "fields": [{"name": "city", "type": "STRING", "mode": "NULLABLE"}],
                },
                {
                    "name": "updated_at",
                    "type": "TIMESTAMP",
                    "mode": "REQUIRED",
                    "defaultValueExpression": "CURRENT_TIMESTAMP()",
                },
            ]
        },
        "tableConstraints": {"primaryKey": {"columns": ["customer_id"]}},
    }


TABLE_PATH = "/bigquery/v2/projects/<project>/datasets/<dataset>/tables/<table>"
DML_DRY_RUN = re.compile(r"^INSERT INTO `([^`]+)` SELECT \* FROM `([^`]+)` WHERE FALSE$")


class BigQueryEmulator(GoogleEmulator):
    rules = (
        *GoogleEmulator.rules,
        Rule(TABLE_PATH, endpoint="tables_get", methods=["GET"]),
        Rule(TABLE_PATH + ":testIamPermissions", endpoint="test_iam_permissions", methods=["POST"]),
        Rule("/bigquery/v2/projects/<project>/queries", endpoint="query", methods=["POST"]),
    )
    scope = BIGQUERY_SCOPE

    def reset_state(self) -> None:
        super().reset_state()
        self.tables = {("acme-data", "crm"): {"customers": customers_table("acme-data", "crm", "customers")}}
        self.granted = {
            "bigquery.tables.get",
            "bigquery.tables.getData",
            "bigquery.tables.updateData",
            "bigquery.jobs.create",
        }
        self.queries: list[dict] = []

    def lookup(self, project, dataset, table):
        datasets = self.tables.get((project, dataset))
        if datasets is None:
            return None, self.google_error(404, f"Not found: Dataset {project}:{dataset}", "notFound", "NOT_FOUND")
        if table not in datasets:
            return None, self.google_error(
                404, f"Not found: Table {project}:{dataset}.{table}", "notFound", "NOT_FOUND"
            )
        return datasets[table], None

    def denied(self, permission: str, project, dataset, table):
        name = f"{project}:{dataset}.{table}"
        return self.google_error(
            403,
            f"Access Denied: Table {name}: Permission {permission} denied on table {name} (or it may not exist).",
            "accessDenied",
            "PERMISSION_DENIED",
        )

    def on_tables_get(self, request, project, dataset, table):
        _, failure = self.authorize(request)
        if failure is not None:
            return failure
        if "bigquery.tables.get" not in self.granted:
            return self.denied("bigquery.tables.get", project, dataset, table)
        resource, missing = self.lookup(project, dataset, table)
        return missing or self.json(resource)

    def on_test_iam_permissions(self, request, project, dataset, table):
        _, failure = self.authorize(request)
        if failure is not None:
            return failure
        asked = (request.get_json(silent=True) or {}).get("permissions", [])
        resource, _ = self.lookup(project, dataset, table)
        held = [p for p in asked if p in self.granted] if resource is not None else []
        return self.json({"permissions": held} if held else {})

    def on_query(self, request, project):
        _, failure = self.authorize(request)
        if failure is not None:
            return failure
        body = request.get_json(silent=True) or {}
        self.queries.append(body)
        if not body.get("dryRun"):
            return self.google_error(400, "This emulator only validates dry runs.", "invalid", "INVALID_ARGUMENT")
        if "bigquery.jobs.create" not in self.granted:
            return self.google_error(
                403,
                f"Access Denied: Project {project}: User does not have bigquery.jobs.create "
                f"permission in project {project}.",
                "accessDenied",
                "PERMISSION_DENIED",
            )
        match = DML_DRY_RUN.match(body.get("query", ""))
        if not match or match.group(1) != match.group(2) or body.get("useLegacySql", True):
            return self.google_error(400, "Syntax error: Unexpected query.", "invalidQuery", "INVALID_ARGUMENT")
        table_project, dataset, table = match.group(1).split(".")
        resource, missing = self.lookup(table_project, dataset, table)
        if missing:
            return missing
        location = body.get("location") or resource["location"]
        if location.lower() != resource["location"].lower():
            return self.google_error(
                404,
                f"Not found: Dataset {table_project}:{dataset} was not found in location {location}",
                "notFound",
                "NOT_FOUND",
            )
        # A dry run needs bigquery.jobs.create only; it checks no data access (so it cannot prove updateData).
        return self.json(
            {
                "kind": "bigquery#queryResponse",
                "jobReference": {"projectId": project, "location": resource["location"]},
                "totalBytesProcessed": "0",
                "jobComplete": True,
                "cacheHit": False,
            }
        )


def valid_config(emulator: BigQueryEmulator) -> dict:
    """A config passing every step: a fresh service-account key registered with the emulator."""
    return {
        "service_account_json": json.dumps(service_account_info(emulator)),
        "project_id": "acme-data",
        "dataset": "crm",
        "table": "customers",
        "location": "US",
    }


EMULATOR = BigQueryEmulator
