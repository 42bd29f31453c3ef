"""Snowflake as a destination, over the SQL API (`/api/v2/statements`) with key-pair JWT authentication."""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from urllib.parse import quote

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ._polling import poll, remaining, step_deadline
from ._warehouse import WarehouseColumn, warehouse_fields
from .runtime.base import Connector, FieldsDescription, Requirement, Step
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.registry import register
from .runtime.schema import config_schema, secret, string
from .runtime.vendor import ErrorTable, Rule, read_json

STATEMENTS_PATH = "/api/v2/statements"
JWT_LIFETIME = 59 * 60
QUERY_TAG = "destinations-connection-test"
UNQUOTED_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
PRIVILEGES_DOC = "https://docs.snowflake.com/en/user-guide/security-access-control-privileges"
NON_KEY_TYPES = ("VARIANT", "OBJECT", "ARRAY", "MAP", "GEOGRAPHY", "GEOMETRY", "VECTOR", "FLOAT", "DOUBLE", "REAL")

KEY_REMEDIATION = (
    "Check that the public key of this private key is set on the user (ALTER USER … SET RSA_PUBLIC_KEY; "
    "DESCRIBE USER shows RSA_PUBLIC_KEY_FP), and that `account` and `user` are right."
)
_CLOCK = "The JWT was refused as expired: check this server's clock is right."
_LOCKED = "The user is disabled or locked; ask a Snowflake admin to unlock it."
# Snowflake error codes (the `code` of the answer body) that need their own mapping, then the timeout status.
ERRORS = ErrorTable(
    "Snowflake",
    rules=(
        Rule(ErrorCode.AUTH_INVALID, KEY_REMEDIATION, vendor_code=("390144", "390100")),  # JWT invalid / bad login
        Rule(ErrorCode.TOKEN_EXPIRED, _CLOCK, vendor_code=("390198", "390114")),
        Rule(ErrorCode.AUTH_INVALID, _LOCKED, vendor_code=("390101", "390102")),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "A network policy blocks this service's IP address; allow it.",
            vendor_code="390422",
        ),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "The role is not granted to the user: grant it or fix `role` (unquoted names are upper-cased; quote a "
            'mixed-case name, e.g. "Loader").',
            vendor_code="390189",
        ),
        # 390201 is "The requested warehouse|database|schema does not exist or not authorized" (SqlState 08004);
        # drivers report it for the warehouse the session asks for (snowflakedb/terraform-provider-snowflake#1099,
        # snowflakedb/snowflake-connector-net#537).
        Rule(
            ErrorCode.NOT_FOUND,
            "The database or schema does not exist or the role cannot use it: check `database` and `schema` "
            "(unquoted names are upper-cased, as SHOW DATABASES lists them) and GRANT USAGE on them.",
            vendor_code="390201",
            message="database",
        ),
        Rule(
            ErrorCode.NOT_FOUND,
            "The database or schema does not exist or the role cannot use it: check `database` and `schema` "
            "(unquoted names are upper-cased, as SHOW DATABASES lists them) and GRANT USAGE on them.",
            vendor_code="390201",
            message="schema",
        ),
        Rule(
            ErrorCode.NOT_FOUND,
            "Check `warehouse` ({warehouse}; unquoted names are upper-cased, as SHOW WAREHOUSES lists them) and "
            "GRANT USAGE ON WAREHOUSE {warehouse} TO ROLE {role}.",
            vendor_code="390201",
            summary="Warehouse {warehouse} does not exist or the role cannot use it",
        ),
        Rule(
            ErrorCode.NOT_FOUND,
            "Check `database`, `schema` and `table` (unquoted names are upper-cased), and that the role has USAGE "
            "on the database and schema and a privilege on the table.",
            vendor_code="002003",
        ),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "Grant the role {privilege} on the table: GRANT {privilege} ON TABLE {table} TO ROLE {role} (a sync "
            "inserts new rows and updates the rows its key matches, so it needs INSERT and UPDATE).",
            vendor_code="003001",
        ),
        Rule(
            ErrorCode.INSUFFICIENT_PERMISSIONS,
            "The warehouse does not exist or the role lacks USAGE on it: fix `warehouse` or GRANT USAGE ON WAREHOUSE.",
            vendor_code="000606",
        ),
        Rule(
            ErrorCode.VENDOR_ERROR,
            "The warehouse cannot resume (a resource monitor quota is used up).",
            vendor_code="000630",
        ),
        Rule(ErrorCode.TIMEOUT, "The statement ran past its timeout; check the warehouse load.", status=408),
    ),
)
# For failures no code rule names: the SQLSTATE of the answer still tells missing from forbidden.
SQLSTATE_CODES = {"42S02": ErrorCode.NOT_FOUND, "42501": ErrorCode.INSUFFICIENT_PERMISSIONS}


def jwt_account(account: str) -> str:
    """The account part of the JWT claims: the locator before any region, upper-cased (Snowflake's rule)."""
    account = account.upper()
    if ".GLOBAL" in account:
        return account.partition("-")[0]
    return account.partition(".")[0]


def stored_name(name: str) -> str:
    """The name as Snowflake stores it (and SHOW lists it): a plain name upper-cased; a quoted one as written,
    without the quotes; anything else (spaces, dashes) as typed. The SQL API's `database`, `schema`, `role` and
    `warehouse` fields are case-sensitive and want this form."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    if UNQUOTED_IDENTIFIER.match(name):
        return name.upper()
    return name


def identifier(name: str) -> str:
    """A Snowflake identifier as SQL text: a plain name as typed (it resolves upper-case), anything else quoted."""
    if UNQUOTED_IDENTIFIER.match(name):
        return name
    return '"' + stored_name(name).replace('"', '""') + '"'


def load_private_key(pem: str, passphrase: str | None) -> rsa.RSAPrivateKey:
    """The configured key, or ValueError(field, message) naming the problem (never the key)."""
    if "\\n" in pem and "\n" not in pem.strip():  # pasted with escaped line breaks
        pem = pem.replace("\\n", "\n")
    not_pem = ("private_key", "Must be a PEM private key (-----BEGIN PRIVATE KEY----- …).")
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=passphrase.encode() if passphrase else None)
    except TypeError:  # a passphrase for a plain key, or none for an encrypted one
        if passphrase:
            raise ValueError("private_key_passphrase", "The private key is not encrypted; leave this empty.") from None
        raise ValueError("private_key_passphrase", "The private key is encrypted; set its passphrase.") from None
    except ValueError:
        if passphrase and "ENCRYPTED" in pem:
            raise ValueError("private_key_passphrase", "The passphrase does not decrypt the private key.") from None
        raise ValueError(*not_pem) from None
    except Exception:  # cryptography raises its own types for unsupported key material
        raise ValueError(*not_pem) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("private_key", "Must be an RSA private key (Snowflake key-pair auth uses RSA).")
    if key.key_size < 2048:
        raise ValueError("private_key", "The RSA key must be at least 2048 bits.")
    return key


def public_key_fingerprint(key: rsa.RSAPrivateKey) -> str:
    """SHA256:<base64 of the SHA-256 of the DER public key>, as DESCRIBE USER shows RSA_PUBLIC_KEY_FP."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


@register
class SnowflakeConnector(Connector):
    type = "snowflake"
    label = "Snowflake (as destination)"
    example_config = {
        "account": "myorg-myaccount",
        "user": "DESTINATIONS_SVC",
        "private_key": "-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----\n",
        "role": "DESTINATIONS_ROLE",
        "warehouse": "LOAD_WH",
        "database": "MARKETING",
        "schema": "PUBLIC",
        "table": "CONTACTS",
    }
    auth_method = "Key-pair JWT (RS256, signed with the user's private key) on the SQL API"
    config_schema = config_schema(
        "Snowflake",
        "Writes rows into one Snowflake table through the SQL API. Authenticates with key-pair JWT: each request "
        "carries a short-lived JWT signed (RS256) with the user's private key, whose public key is set on the "
        "user (ALTER USER … SET RSA_PUBLIC_KEY). Use a TYPE=SERVICE user. Alternatives (not offered here): "
        "programmatic access tokens, OAuth. Password sign-in is not supported (Snowflake is retiring it).",
        {
            "account": string(
                "Account identifier: the part before .snowflakecomputing.com, e.g. myorg-myaccount or "
                "xy12345.us-east-2.aws.",
                pattern=r"^(?!.*snowflakecomputing)[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$",
                **{
                    "x-pattern-message": "Must be an account identifier such as myorg-myaccount (no https://, no "
                    ".snowflakecomputing.com).",
                    "x-credential-host": True,
                },
            ),
            "user": string("The Snowflake user the key belongs to (ideally TYPE=SERVICE)."),
            "private_key": secret(
                "The user's RSA private key in PEM (PKCS#8), at least 2048 bits.",
                contentMediaType="application/x-pem-file",
            ),
            "private_key_passphrase": secret("The passphrase of the private key, if it is encrypted."),
            "role": string("Role to use (optional; the user's default role otherwise)."),
            "warehouse": string("Warehouse that runs the writes; the write-permission test resumes it."),
            "database": string("Database of the target table."),
            "schema": string("Schema of the target table."),
            "table": string("The table rows are written to."),
        },
        ["account", "user", "private_key", "warehouse", "database", "schema", "table"],
    )
    steps = (
        Step(
            "connectivity",
            "DNS resolves, TCP connects and TLS is valid for <account>.snowflakecomputing.com; any HTTP answer "
            "proves the account host is reachable.",
            10,
        ),
        Step(
            "authentication",
            "The SQL API accepts a key-pair JWT for the user and runs SELECT CURRENT_USER(), CURRENT_ROLE() (no "
            "warehouse needed): key, user, account and role are right.",
            30,
        ),
        Step(
            "target",
            "DESCRIBE TABLE through the SQL API: the table exists and the role can see it (a metadata "
            "operation; no warehouse needed).",
            30,
        ),
        Step(
            "write_permission",
            "Runs INSERT INTO <table> (<columns>) SELECT <columns> FROM <table> WHERE 1=0 (virtual columns left "
            "out) and UPDATE <table> SET <column> = <column> WHERE 1=0, which change no rows: privileges are "
            "checked when the statement compiles, so the role may insert, update and use the warehouse. Resumes "
            "the warehouse if it is suspended (a paid compute resource).",
            60,
            proves=(
                Requirement("INSERT on the table", PRIVILEGES_DOC, proof="no-op INSERT … SELECT … WHERE 1=0"),
                Requirement("UPDATE on the table", PRIVILEGES_DOC, proof="no-op UPDATE … SET c = c WHERE 1=0"),
                Requirement(
                    "USAGE on the warehouse",
                    "https://docs.snowflake.com/en/user-guide/warehouses-overview",
                    proof="the no-op statements run on the configured warehouse",
                ),
            ),
        ),
    )

    @property
    def base_url(self) -> str:
        return self.vendor_url(f"https://{self.config['account'].lower()}.snowflakecomputing.com")

    @property
    def table_name(self) -> str:
        return ".".join(identifier(self.config[k]) for k in ("database", "schema", "table"))

    @property
    def display_name(self) -> str:
        """The table name as Snowflake resolves it (plain names upper-cased)."""
        parts = (identifier(self.config[k]) for k in ("database", "schema", "table"))
        return ".".join(part if part.startswith('"') else part.upper() for part in parts)

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        if not config.get("private_key"):
            return []
        try:
            load_private_key(config["private_key"], config.get("private_key_passphrase"))
        except ValueError as exc:
            field, message = exc.args
            return [(field, message)]
        return []

    # --- auth ---------------------------------------------------------------------------------

    _token: str | None = None
    _token_expires: float = 0.0

    def token(self) -> str:
        """A cached key-pair JWT: iss = ACCOUNT.USER.SHA256:<fp>, sub = ACCOUNT.USER, RS256."""
        if self._token and time.time() < self._token_expires - 60:
            return self._token
        try:
            key = load_private_key(self.config["private_key"], self.config.get("private_key_passphrase"))
        except ValueError as exc:
            raise ConnectorError(
                ErrorCode.INVALID_CONFIG,
                f"The `{exc.args[0]}` setting is not usable: {exc.args[1]}",
                remediation="Paste the user's PEM private key (and its passphrase if it is encrypted).",
            ) from None
        qualified = f"{jwt_account(self.config['account'])}.{self.config['user'].upper()}"
        now = int(time.time())
        claims = {
            "iss": f"{qualified}.{public_key_fingerprint(key)}",
            "sub": qualified,
            "iat": now,
            "exp": now + JWT_LIFETIME,
        }
        self._token = jwt.encode(claims, key, algorithm="RS256")
        self._token_expires = now + JWT_LIFETIME
        return self._token

    def headers(self) -> dict:
        return {
            "Authorization": f"Bearer {self.token()}",
            "X-Snowflake-Authorization-Token-Type": "KEYPAIR_JWT",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    # --- the SQL API --------------------------------------------------------------------------

    def execute(
        self, statement: str, *, deadline: float, warehouse: bool = False, what: str = "", privilege: str = ""
    ) -> dict:
        """Run one statement and return its ResultSet, polling a 202 handle until the deadline. `privilege`: the
        table privilege the statement needs, named by a refusal's remedy."""
        body = {
            "statement": statement,
            "timeout": max(1, int(remaining(deadline))),
            "database": stored_name(self.config["database"]),
            "schema": stored_name(self.config["schema"]),
            "parameters": {"QUERY_TAG": QUERY_TAG},
        }
        if self.config.get("role"):
            body["role"] = stored_name(self.config["role"])
        if warehouse:
            body["warehouse"] = stored_name(self.config["warehouse"])
        response = self.http.post(
            self.base_url + STATEMENTS_PATH,
            params={"requestId": str(uuid.uuid4())},
            json=body,
            headers=self.headers(),
            allow_redirects=False,
        )
        result = self._result(response, privilege)
        if result is None:
            status_url = self._status_url(read_json(response), "202")
            result = poll(
                self.http,
                lambda: self._result(
                    self.http.get(status_url, headers=self.headers(), allow_redirects=False), privilege
                ),
                deadline=deadline,
                what=what or "The Snowflake statement",
                remediation="The warehouse may be resuming or queued; test again in a minute, or check its size "
                "and load.",
                cancel=lambda: self.http.post(f"{status_url}/cancel", headers=self.headers(), allow_redirects=False),
            )
        return self._with_every_partition(result)

    def _status_url(self, answer: dict, status: str) -> str:
        handle = quote(str(answer.get("statementHandle", "")), safe="")
        if not handle:
            raise ConnectorError(ErrorCode.VENDOR_ERROR, f"Snowflake answered {status} without a statement handle.")
        return f"{self.base_url}{STATEMENTS_PATH}/{handle}"

    def _with_every_partition(self, result: dict) -> dict:
        """The ResultSet with the rows of every partition: Snowflake returns the first one only and lists the
        others in `resultSetMetaData.partitionInfo` (GET …/statements/{handle}?partition=N)."""
        partitions = (result.get("resultSetMetaData") or {}).get("partitionInfo") or []
        if len(partitions) <= 1:
            return result
        status_url = self._status_url(result, "a partitioned result")
        data = list(result.get("data") or [])
        for number in range(1, len(partitions)):
            page = self.http.get(
                status_url, params={"partition": number}, headers=self.headers(), allow_redirects=False
            )
            data.extend((self._result(page) or {}).get("data") or [])
        return {**result, "data": data}

    def _result(self, response: requests.Response, privilege: str = "") -> dict | None:
        """The ResultSet of a 200; None while running (202); the mapped error otherwise."""
        if response.status_code == 200:
            return read_json(response)
        if response.status_code == 202:
            return None
        raise self._error(response, privilege)

    def _error(self, response: requests.Response, privilege: str = "") -> ConnectorError:
        context = {
            "warehouse": stored_name(self.config["warehouse"]),
            "table": self.display_name,
            "role": stored_name(self.config["role"]) if self.config.get("role") else "<role>",
            "privilege": privilege or "INSERT, UPDATE and SELECT",
        }
        if ERRORS.rule_for(response.status_code, *ERRORS.parts(response)) is not None:
            return ERRORS.error(response, context=context)
        code = SQLSTATE_CODES.get(str(read_json(response).get("sqlState")))
        return ERRORS.error(response, code=code, context=context)

    @staticmethod
    def rows(result: dict) -> list[dict]:
        """jsonv2 rows as dicts keyed by column name (lower-case)."""
        names = [column["name"].lower() for column in result.get("resultSetMetaData", {}).get("rowType", [])]
        return [dict(zip(names, row, strict=False)) for row in result.get("data") or []]

    # --- steps --------------------------------------------------------------------------------

    def check_connectivity(self):
        return self.reach(self.base_url + "/")

    def check_authentication(self):
        result = self.execute(
            "SELECT CURRENT_USER() AS USER_NAME, CURRENT_ROLE() AS ROLE_NAME",
            deadline=step_deadline(self.http),
            what="The authentication statement",
        )
        row = (self.rows(result) or [{}])[0]
        user, role = row.get("user_name"), row.get("role_name")
        return f"Snowflake accepted the key-pair JWT for user {user} (role {role}).", {"user": user, "role": role}

    _columns: list[dict] | None = None

    def describe_table(self, deadline: float) -> list[dict]:
        self._columns = self.rows(
            self.execute(f"DESCRIBE TABLE {self.table_name}", deadline=deadline, what="DESCRIBE TABLE")
        )
        return self._columns

    def check_target(self):
        columns = self.describe_table(step_deadline(self.http))
        keys = [c["name"] for c in columns if c.get("primary key") == "Y"]
        return (
            f"Found table {self.display_name} ({len(columns)} columns).",
            {"table": self.display_name, "columns": len(columns), "primary_key": keys},
        )

    def check_write_permission(self):
        deadline = step_deadline(self.http)
        columns = self._columns if self._columns is not None else self.describe_table(deadline)
        # Virtual columns are computed: a value given for one is refused, so they stay out of the list. Names are
        # quoted exactly as DESCRIBE lists them (embedded quotes doubled); identifier() quotes the table's parts.
        names = ", ".join(
            '"' + c["name"].replace('"', '""') + '"' for c in columns if c.get("kind", "COLUMN") == "COLUMN"
        )
        statement = f"INSERT INTO {self.table_name} ({names}) SELECT {names} FROM {self.table_name} WHERE 1=0"  # noqa: S608
        result = self.execute(statement, deadline=deadline, warehouse=True, what="The no-op INSERT", privilege="INSERT")
        inserted = str(next(iter((self.rows(result) or [{}])[0].values()), "0"))
        # A sync updates the rows its key matches: prove UPDATE the same way, on one writable column.
        first = next(c["name"] for c in columns if c.get("kind", "COLUMN") == "COLUMN")
        quoted = '"' + first.replace('"', '""') + '"'
        self.execute(
            f"UPDATE {self.table_name} SET {quoted} = {quoted} WHERE 1=0",  # noqa: S608
            deadline=deadline,
            warehouse=True,
            what="The no-op UPDATE",
            privilege="UPDATE",
        )
        return (
            f"The role may insert into and update {self.display_name} using warehouse "
            f"{stored_name(self.config['warehouse'])} (a no-op INSERT wrote {inserted} rows, a no-op UPDATE "
            "changed none).",
            {
                "rows_inserted": int(inserted) if inserted.isdigit() else inserted,
                "warehouse": stored_name(self.config["warehouse"]),
            },
        )

    def describe_fields(self) -> FieldsDescription:
        columns = self.describe_table(step_deadline(self.http))
        fields, options = warehouse_fields(
            WarehouseColumn(
                name=column["name"],
                type=column.get("type", ""),
                scalar=not column.get("type", "").upper().startswith(NON_KEY_TYPES),
                nullable=column.get("null?", "Y") == "Y",
                writable=column.get("kind", "COLUMN") == "COLUMN",
                has_default=bool(column.get("default")),
                primary_key=column.get("primary key") == "Y",
                unique=column.get("unique key") == "Y",
                description=column.get("comment") or "",
            )
            for column in columns
        )
        return FieldsDescription(object=self.display_name, source="live", fields=fields, options=options)
