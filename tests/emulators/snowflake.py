"""A Snowflake SQL API double: key-pair JWTs verified against registered public keys, statements by pattern.

Answers `POST /api/v2/statements` and `GET /api/v2/statements/<handle>` as Snowflake does: 200 ResultSet
(jsonv2), 202 QueryStatus while a statement runs (`pending_polls`), 422 QueryFailureStatus for SQL errors,
401 `390144` for a bad JWT and `390198` for an expired one. The body's `database`, `schema`, `role` and
`warehouse` are matched case-sensitively against the stored (SHOW) names, as the SQL API reference says they
are; a large result comes in partitions (`partition_rows`), the first in the answer and the others from
`GET …/<handle>?partition=N`. An INSERT that gives a value for a virtual column (GA in 2026) fails.
Privileges are checked when a statement compiles, so a no-op INSERT or UPDATE (`WHERE 1=0`) of a role without
that privilege fails with 003001 "Insufficient privileges" (docs.snowflake.com user-guide/
security-access-control-privileges). A body `warehouse` that does not exist or the role may not use answers
390201 "The requested warehouse does not exist or not authorized.", as Snowflake's drivers report it
(snowflakedb/terraform-provider-snowflake#1099). Unverified: the HTTP status Snowflake gives an unknown body
`database` (390201 is the code its drivers report at login), and the exact code and text of the virtual-column
refusal.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.routing import Rule

from .base import Emulator

IDENT = r'(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)'
TABLE_NAME = rf"({IDENT})\.({IDENT})\.({IDENT})"
DESCRIBE = re.compile(rf"^\s*DESCRIBE\s+TABLE\s+{TABLE_NAME}\s*$", re.I)
COLUMN_LIST = rf"{IDENT}(?:\s*,\s*{IDENT})*"
NOOP_INSERT = re.compile(
    rf"^\s*INSERT\s+INTO\s+{TABLE_NAME}(?:\s*\((?P<into>{COLUMN_LIST})\))?\s+SELECT\s+(?P<select>\*|{COLUMN_LIST})"
    rf"\s+FROM\s+{TABLE_NAME}\s+WHERE\s+1\s*=\s*0\s*$",
    re.I,
)
NOOP_UPDATE = re.compile(
    rf"^\s*UPDATE\s+{TABLE_NAME}\s+SET\s+(?P<set>{IDENT})\s*=\s*(?P<to>{IDENT})\s+WHERE\s+1\s*=\s*0\s*$", re.I
)
WHOAMI = re.compile(r"^\s*SELECT\s+CURRENT_USER\(\)", re.I)
DESCRIBE_COLUMNS = (
    "name",
    "type",
    "kind",
    "null?",
    "default",
    "primary key",
    "unique key",
    "check",
    "expression",
    "comment",
    "policy name",
    "privacy domain",
)


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(key: rsa.RSAPrivateKey, passphrase: str | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def fingerprint(public_key) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def resolve(identifier: str) -> str:
    """Snowflake name resolution: unquoted names are upper-cased, quoted ones kept as written."""
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier.upper()


def column(name, type_, *, null="Y", default=None, pk="N", unique="N", kind="COLUMN", comment=None):
    return [name, type_, kind, null, default, pk, unique, None, None, comment, None, None]


def customers_table() -> list[list]:
    return [
        column("ID", "NUMBER(38,0)", null="N", pk="Y"),
        column("EMAIL", "VARCHAR(16777216)", null="N", unique="Y", comment="Primary e-mail"),
        column("FIRST_NAME", "VARCHAR(256)"),
        column("ATTRIBUTES", "VARIANT"),
        column("CREATED_AT", "TIMESTAMP_NTZ(9)", null="N", default="CURRENT_TIMESTAMP()"),
        column("EMAIL_DOMAIN", "VARCHAR(16777216)", kind="VIRTUAL"),
    ]


class SnowflakeEmulator(Emulator):
    rules = (
        Rule("/", endpoint="root", methods=["GET", "HEAD"]),
        Rule("/api/v2/statements", endpoint="submit", methods=["POST"]),
        Rule("/api/v2/statements/<handle>", endpoint="status", methods=["GET"]),
        Rule("/api/v2/statements/<handle>/cancel", endpoint="cancel", methods=["POST"]),
    )

    def reset_state(self) -> None:
        self.account = "TESTORG-TESTACCT"
        self.keys: dict[str, tuple[str, object]] = {}  # fingerprint -> (USER, public key)
        self.users: dict[str, dict] = {}  # USER -> {"roles": set, "default_role": str}
        self.tables: dict[tuple[str, str, str], list[list]] = {("ANALYTICS", "PUBLIC", "CUSTOMERS"): customers_table()}
        self.insert_denied: set[tuple[str, str, str]] = set()
        self.update_denied: set[tuple[str, str, str]] = set()
        self.warehouses = {"COMPUTE_WH"}
        self.resumed_warehouses: list[str] = []
        self.pending_polls = 0  # >0: the POST answers 202, then this many status polls answer 202 too
        self.partition_rows: int | None = None  # rows per result partition (None: one partition)
        self.partitions: dict[str, list[list[list]]] = {}  # handle -> the rows of each partition
        self.statements: dict[str, dict] = {}
        self.cancelled: list[str] = []
        self.claims: list[dict] = []

    def register_key(self, user: str, public_key, *, roles=("PUBLIC",), default_role: str = "PUBLIC") -> str:
        """Roles as stored (SHOW ROLES names): matched case-sensitively."""
        fp = fingerprint(public_key)
        self.keys[fp] = (user.upper(), public_key)
        self.users[user.upper()] = {"roles": set(roles) | {"PUBLIC"}, "default_role": default_role}
        return fp

    def rate_limit(self, endpoint: str = "submit", retry_after: int = 30, times: int | None = None) -> None:
        self.fail(
            endpoint,
            429,
            {"code": "000000", "message": "Too many requests. Please retry later."},
            headers={"Retry-After": str(retry_after)},
            times=times,
        )

    def server_error(self, endpoint: str = "submit", times: int | None = None) -> None:
        self.fail(endpoint, 503, {"code": "000000", "message": "Service Unavailable"}, times=times)

    # --- answers ------------------------------------------------------------------------------

    def on_root(self, request):
        return self.json({"message": "Snowflake"}, 200)

    @staticmethod
    def error(status: int, code: str, message: str, sql_state: str | None = None, handle: str | None = None):
        body = {"code": code, "message": message}
        if sql_state:
            body["sqlState"] = sql_state
        if handle:
            body.update(
                statementHandle=handle,
                statementStatusUrl=f"/api/v2/statements/{handle}",
                createdOn=int(time.time() * 1000),
            )
        return Emulator.json(body, status)

    def authenticate(self, request) -> tuple[str | None, object]:
        """(USER, None) for a valid key-pair JWT, else (None, the 401 answer)."""
        ref = uuid.uuid4()
        invalid = (None, self.error(401, "390144", f"JWT token is invalid. [{ref}]"))
        if not request.headers.get("User-Agent"):
            return None, self.error(400, "391903", "User-Agent header is required.")
        token_type = request.headers.get("X-Snowflake-Authorization-Token-Type")
        if token_type not in (None, "KEYPAIR_JWT"):
            return invalid
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None, self.error(401, "390101", "Authorization header is missing or not a Bearer token.")
        token = auth.removeprefix("Bearer ")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return invalid
        qualified, _, fp = str(unverified.get("iss", "")).rpartition(".")
        user_entry = self.keys.get(fp)
        if user_entry is None:
            return invalid
        user, public_key = user_entry
        try:
            claims = jwt.decode(
                token, public_key, algorithms=["RS256"], options={"require": ["iss", "sub", "iat", "exp"]}
            )
        except jwt.ExpiredSignatureError:
            return None, self.error(401, "390198", f"Keypair access token expired. [{ref}]")
        except jwt.InvalidTokenError:
            return invalid
        if qualified != f"{self.account}.{user}" or claims["sub"] != qualified or claims["exp"] - claims["iat"] > 3600:
            return invalid
        self.claims.append(claims)
        return user, None

    def on_submit(self, request):
        user, failure = self.authenticate(request)
        if failure is not None:
            return failure
        body = request.get_json(silent=True) or {}
        handle = str(uuid.uuid4())
        answer = self.run(user, body, handle)
        if self.pending_polls > 0:
            self.statements[handle] = {"left": self.pending_polls, "answer": answer}
            return self.json(
                {
                    "code": "333334",
                    "message": "Asynchronous execution in progress. Use provided query id to perform query "
                    "monitoring and management.",
                    "statementHandle": handle,
                    "statementStatusUrl": f"/api/v2/statements/{handle}",
                },
                202,
            )
        return answer

    def on_status(self, request, handle):
        _, failure = self.authenticate(request)
        if failure is not None:
            return failure
        if "partition" in request.args:
            return self.partition(handle, request.args["partition"])
        statement = self.statements.get(handle)
        if statement is None:
            return self.error(404, "000709", f"Statement {handle} not found.")
        if statement["left"] > 0:
            statement["left"] -= 1
            return self.json(
                {
                    "code": "333334",
                    "message": "Asynchronous execution in progress.",
                    "statementHandle": handle,
                    "statementStatusUrl": f"/api/v2/statements/{handle}",
                },
                202,
            )
        return statement["answer"]

    def on_cancel(self, request, handle):
        _, failure = self.authenticate(request)
        if failure is not None:
            return failure
        self.cancelled.append(handle)
        self.statements.pop(handle, None)
        return self.json({"code": "000604", "message": "SQL execution canceled.", "statementHandle": handle})

    # --- statements ---------------------------------------------------------------------------

    def run(self, user: str, body: dict, handle: str):
        statement = body.get("statement", "")
        # Case-sensitive, as the SQL API reference says: `loader_role` is not the role LOADER_ROLE.
        role = body["role"] if body.get("role") else self.users[user]["default_role"]
        if body.get("database") and body["database"] not in {name[0] for name in self.tables}:
            return self.error(
                422, "390201", "The requested database does not exist or not authorized.", "08004", handle
            )
        if body.get("schema") and (body.get("database"), body["schema"]) not in {name[:2] for name in self.tables}:
            return self.error(422, "390201", "The requested schema does not exist or not authorized.", "08004", handle)
        if role not in self.users[user]["roles"]:
            return self.error(
                422,
                "390189",
                f"Role '{role}' specified in the connect string is not granted to "
                "this user. Contact your local system administrator.",
                "08004",
                handle,
            )
        if WHOAMI.match(statement):
            return self.result(handle, ["USER_NAME", "ROLE_NAME"], [[user, role]])
        if match := DESCRIBE.match(statement):
            name = tuple(resolve(part) for part in match.groups())
            if name not in self.tables:
                return self.missing_table(name, handle)
            return self.result(handle, list(DESCRIBE_COLUMNS), self.tables[name])
        warehouse = body.get("warehouse")
        if warehouse and warehouse not in self.warehouses:
            return self.error(
                422, "390201", "The requested warehouse does not exist or not authorized.", "08004", handle
            )
        if (NOOP_INSERT.match(statement) or NOOP_UPDATE.match(statement)) and not warehouse:
            return self.error(
                422,
                "000606",
                "No active warehouse selected in the current session.  Select an "
                "active warehouse with the 'use warehouse' command.",
                "57P03",
                handle,
            )
        if match := NOOP_UPDATE.match(statement):
            target = tuple(resolve(part) for part in match.groups()[:3])
            if target not in self.tables:
                return self.missing_table(target, handle)
            if target in self.update_denied:
                return self.denied(target, handle)
            self.resumed_warehouses.append(warehouse)
            return self.result(handle, ["number of rows updated", "number of multi-joined rows updated"], [["0", "0"]])
        if match := NOOP_INSERT.match(statement):
            groups = match.groups()
            target, source = tuple(map(resolve, groups[:3])), tuple(map(resolve, groups[-3:]))
            if target not in self.tables or source != target:
                return self.missing_table(target, handle)
            into = re.findall(IDENT, match["into"]) if match["into"] else None
            if (into is None) != (match["select"] == "*"):
                return self.error(422, "001003", "SQL compilation error:\nsyntax error.", "42000", handle)
            supplied = {resolve(name) for name in into} if into else {row[0] for row in self.tables[target]}
            computed = [row[0] for row in self.tables[target] if row[2] != "COLUMN" and row[0] in supplied]
            if computed:  # a virtual column's value is computed; a value given for it is refused
                return self.error(
                    422,
                    "002020",
                    f"SQL compilation error:\nInsert value list does not match column list: {computed[0]} is virtual.",
                    "21S01",
                    handle,
                )
            if target in self.insert_denied:
                return self.denied(target, handle)
            self.resumed_warehouses.append(warehouse)
            return self.result(handle, ["number of rows inserted"], [["0"]])
        return self.error(
            422, "001003", "SQL compilation error:\nsyntax error line 1 at position 0 unexpected.", "42000", handle
        )

    def denied(self, target, handle):
        return self.error(
            422,
            "003001",
            f"SQL access control error:\nInsufficient privileges to operate on table '{target[2]}'",
            "42501",
            handle,
        )

    def missing_table(self, name, handle):
        return self.error(
            422,
            "002003",
            f"SQL compilation error:\nTable '{'.'.join(name)}' does not exist or not authorized.",
            "42S02",
            handle,
        )

    def partition(self, handle: str, number: str):
        parts = self.partitions.get(handle)
        if parts is None or not number.isdigit() or int(number) >= len(parts):
            return self.error(422, "000709", f"Statement {handle} has no partition {number}.")
        return self.json({"data": parts[int(number)], "statementHandle": handle, "code": "090001"})

    def result(self, handle: str, names: list[str], rows: list[list]):
        size = self.partition_rows or max(1, len(rows))
        parts = [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]
        if len(parts) > 1:
            self.partitions[handle] = parts
        return self.json(
            {
                "resultSetMetaData": {
                    "numRows": len(rows),
                    "format": "jsonv2",
                    "partitionInfo": [{"rowCount": len(part), "uncompressedSize": 100} for part in parts],
                    "rowType": [
                        {
                            "name": n,
                            "type": "text",
                            "nullable": True,
                            "length": 16777216,
                            "precision": None,
                            "scale": None,
                            "database": "",
                            "schema": "",
                            "table": "",
                        }
                        for n in names
                    ],
                },
                "data": parts[0],
                "code": "090001",
                "statementStatusUrl": f"/api/v2/statements/{handle}",
                "sqlState": "00000",
                "statementHandle": handle,
                "message": "Statement executed successfully.",
                "createdOn": int(time.time() * 1000),
            }
        )


def valid_config(emulator: SnowflakeEmulator) -> dict:
    """A config passing every step: a fresh RSA key whose public key is registered on the user."""
    key = generate_private_key()
    emulator.register_key("loader", key.public_key(), roles=("LOADER_ROLE",), default_role="LOADER_ROLE")
    return {
        "account": emulator.account.lower(),
        "user": "loader",
        "private_key": private_key_pem(key),
        "role": "loader_role",
        "warehouse": "compute_wh",
        "database": "analytics",
        "schema": "public",
        "table": "customers",
    }


EMULATOR = SnowflakeEmulator
