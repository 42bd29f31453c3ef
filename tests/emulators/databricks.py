"""A Databricks workspace double: SCIM Me, Unity Catalog tables and effective permissions, SQL statements.

Bearer tokens are checked like the workspace does (403 "Invalid access token." for an unknown or expired
PAT). Statements answer PENDING `pending_polls` times before their final state. SQL warehouses have a state
(EndpointState); a statement sent to a stopped one starts it, and it runs `start_polls` polls later. Effective
permissions filter by `principal` and, when `max_results` is given, come in pages of one assignment after an
empty first page that still carries a `next_page_token` (the documented pagination behaviour). An INSERT that
supplies a GENERATED ALWAYS AS IDENTITY column fails as Delta does.
"""

from __future__ import annotations

import json
import re
import secrets
import time

from werkzeug.routing import Rule

from .base import Emulator

WAREHOUSE_ID = "1234567890abcdef"
FULL_NAME = "main.crm.contacts"
NAME = r"`[^`]+`\.`[^`]+`\.`[^`]+`"
NOOP_INSERT = re.compile(
    rf"^INSERT INTO ({NAME})(?: \((?P<into>[^)]*)\))? SELECT (?P<select>\*|[^)]*?) FROM (\1) WHERE 1 = 0$"
)


def contacts_table(full_name: str = FULL_NAME, owner: str = "data-platform-admins") -> dict:
    catalog, schema, name = full_name.split(".")

    def col(position, name, type_name, type_text, nullable=True, comment=None):
        data = {
            "name": name,
            "type_name": type_name,
            "type_text": type_text,
            "position": position,
            "nullable": nullable,
            "type_json": json.dumps({"name": name, "type": type_text, "nullable": nullable, "metadata": {}}),
        }
        if comment:
            data["comment"] = comment
        return data

    return {
        "name": name,
        "catalog_name": catalog,
        "schema_name": schema,
        "full_name": full_name,
        "table_type": "MANAGED",
        "data_source_format": "DELTA",
        "owner": owner,
        "columns": [
            col(0, "contact_id", "LONG", "bigint", nullable=False),
            col(1, "email", "STRING", "string", nullable=False, comment="Primary e-mail"),
            col(2, "first_name", "STRING", "string"),
            col(3, "score", "DOUBLE", "double", nullable=False),
            col(4, "attributes", "MAP", "map<string,string>"),
            col(5, "updated_at", "TIMESTAMP", "timestamp"),
        ],
        "table_constraints": [
            {"primary_key_constraint": {"name": "contacts_pk", "child_columns": ["contact_id"]}},
        ],
    }


def identity_column(position: int, name: str, *, always: bool = True) -> dict:
    """A BIGINT GENERATED {ALWAYS|BY DEFAULT} AS IDENTITY column as Unity Catalog lists it: the Delta identity
    metadata (delta.identity.*) rides in `type_json`."""
    metadata = {
        "delta.identity.start": 1,
        "delta.identity.step": 1,
        "delta.identity.allowExplicitInsert": not always,
    }
    return {
        "name": name,
        "type_name": "LONG",
        "type_text": "bigint",
        "position": position,
        "nullable": False,
        "type_json": json.dumps({"name": name, "type": "long", "nullable": False, "metadata": metadata}),
    }


class DatabricksEmulator(Emulator):
    rules = (
        Rule("/", endpoint="root", methods=["GET", "HEAD"]),
        Rule("/api/2.0/preview/scim/v2/Me", endpoint="me", methods=["GET"]),
        Rule("/api/2.0/token/list", endpoint="token_list", methods=["GET"]),
        Rule("/api/2.1/unity-catalog/tables/<full_name>", endpoint="table", methods=["GET"]),
        Rule(
            "/api/2.1/unity-catalog/effective-permissions/<securable_type>/<full_name>",
            endpoint="effective_permissions",
            methods=["GET"],
        ),
        Rule("/api/2.0/sql/warehouses/<warehouse_id>", endpoint="warehouse", methods=["GET"]),
        Rule("/api/2.0/sql/statements", endpoint="submit", methods=["POST"]),
        Rule("/api/2.0/sql/statements/<statement_id>", endpoint="statement", methods=["GET"]),
        Rule("/api/2.0/sql/statements/<statement_id>/cancel", endpoint="cancel", methods=["POST"]),
    )

    def reset_state(self) -> None:
        self.tokens: dict[str, dict] = {}  # PAT -> SCIM user
        self.token_infos: dict[str, dict] = {}  # PAT -> its public token info (token/list)
        self.catalogs = {"main": {"crm"}}
        self.tables = {FULL_NAME: contacts_table()}
        # full_name -> principal -> [(privilege, inherited_from_type, inherited_from_name)]
        self.grants: dict[str, dict[str, list[tuple]]] = {
            FULL_NAME: {
                "cdp-writers": [("SELECT", "SCHEMA", "main.crm"), ("MODIFY", None, None)],
                "analysts": [("SELECT", "CATALOG", "main")],
            }
        }
        self.warehouses = {WAREHOUSE_ID: "RUNNING"}  # id -> state
        self.start_polls = 2  # polls a stopped warehouse takes to start once a statement arrives
        self.started: list[str] = []
        self.warehouse_users: set[str] | None = None  # None: every principal has CAN USE
        self.pending_polls = 0
        self.statements: dict[str, dict] = {}
        self.cancelled: list[str] = []

    def add_token(
        self, user_name: str = "svc-cdp@acme.com", groups=("cdp-writers",), lifetime_seconds: int | None = None
    ) -> str:
        token = "dapi" + secrets.token_hex(16)
        now_ms = int(time.time() * 1000)
        self.token_infos[token] = {
            "token_id": secrets.token_hex(32),
            "creation_time": now_ms,
            # Epoch milliseconds, or -1 for a token created without a lifetime (the Token API reference).
            "expiry_time": now_ms + lifetime_seconds * 1000 if lifetime_seconds else -1,
            "comment": "cdp",
        }
        self.tokens[token] = {
            "id": str(secrets.randbelow(10**15)),
            "userName": user_name,
            "displayName": "CDP writer",
            "active": True,
            "groups": [{"display": g, "type": "direct", "value": str(i)} for i, g in enumerate(groups)],
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        }
        return token

    def rate_limit(self, endpoint: str, retry_after: int = 30, times: int | None = None) -> None:
        self.fail(
            endpoint,
            429,
            {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "Too many requests; retry later."},
            headers={"Retry-After": str(retry_after)},
            times=times,
        )

    def server_error(self, endpoint: str, times: int | None = None) -> None:
        self.fail(
            endpoint,
            503,
            {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "The service is temporarily unavailable."},
            times=times,
        )

    @staticmethod
    def error(status: int, error_code, message: str):
        return Emulator.json({"error_code": error_code, "message": message}, status)

    def principal(self, request) -> tuple[dict | None, object]:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None, self.error(401, "401", "Credential was not sent or was of an unsupported type for this API.")
        user = self.tokens.get(auth.removeprefix("Bearer "))
        if user is None:
            return None, self.error(403, 403, "Invalid access token.")
        return user, None

    def principal_names(self, user: dict) -> set[str]:
        return {user["userName"], "account users"} | {g["display"] for g in user["groups"]}

    def on_root(self, request):
        return self.json({"message": "Databricks workspace"})

    def on_me(self, request):
        user, failure = self.principal(request)
        return failure or self.json(user)

    def on_token_list(self, request):
        """GET /api/2.0/token/list: the valid tokens of the calling user (token values never shown)."""
        user, failure = self.principal(request)
        if failure:
            return failure
        mine = [info for token, info in self.token_infos.items() if self.tokens[token]["userName"] == user["userName"]]
        return self.json({"token_infos": mine})

    def lookup(self, full_name: str):
        parts = full_name.split(".")
        if len(parts) != 3:
            return None, self.error(400, "INVALID_PARAMETER_VALUE", f"Invalid table name '{full_name}'.")
        catalog, schema, _ = parts
        if catalog not in self.catalogs:
            return None, self.error(404, "CATALOG_DOES_NOT_EXIST", f"Catalog '{catalog}' does not exist.")
        if schema not in self.catalogs[catalog]:
            return None, self.error(404, "SCHEMA_DOES_NOT_EXIST", f"Schema '{catalog}.{schema}' does not exist.")
        if full_name not in self.tables:
            return None, self.error(404, "TABLE_DOES_NOT_EXIST", f"Table '{full_name}' does not exist.")
        return self.tables[full_name], None

    def privileges(self, user: dict, full_name: str) -> set[str]:
        names = self.principal_names(user)
        return {p[0] for who, privs in self.grants.get(full_name, {}).items() if who in names for p in privs}

    def on_table(self, request, full_name):
        user, failure = self.principal(request)
        if failure is not None:
            return failure
        table, missing = self.lookup(full_name)
        if missing is not None:
            return missing
        if table["owner"] not in self.principal_names(user) and not self.privileges(user, full_name):
            catalog, schema, _ = full_name.split(".")
            message = f"User does not have USE SCHEMA on Schema '{catalog}.{schema}'."
            return self.error(403, "PERMISSION_DENIED", message)
        return self.json(table)

    def on_effective_permissions(self, request, securable_type, full_name):
        _, failure = self.principal(request)
        if failure is not None:
            return failure
        if securable_type.lower() != "table":
            return self.error(400, "INVALID_PARAMETER_VALUE", f"Unsupported securable type {securable_type}.")
        _, missing = self.lookup(full_name)
        if missing is not None:
            return missing
        wanted = request.args.get("principal")
        assignments = []
        for who, privileges in self.grants.get(full_name, {}).items():
            if wanted and who != wanted:
                continue
            entries = []
            for privilege, from_type, from_name in privileges:
                entry = {"privilege": privilege}
                if from_type:
                    entry.update(inherited_from_type=from_type, inherited_from_name=from_name)
                entries.append(entry)
            assignments.append({"principal": who, "privileges": entries})
        if "max_results" not in request.args:
            return self.json({"privilege_assignments": assignments})
        page = int(request.args.get("page_token") or 0)  # page 0 is empty, page n holds assignment n-1
        body = {"privilege_assignments": assignments[page - 1 : page] if page else []}
        if page < len(assignments):
            body["next_page_token"] = str(page + 1)
        return self.json(body)

    def on_warehouse(self, request, warehouse_id):
        user, failure = self.principal(request)
        if failure is not None:
            return failure
        if warehouse_id not in self.warehouses:
            return self.error(404, "RESOURCE_DOES_NOT_EXIST", f"SQL warehouse {warehouse_id} does not exist.")
        if self.warehouse_users is not None and not self.principal_names(user) & self.warehouse_users:
            return self.error(403, "PERMISSION_DENIED", f"User is not authorized to use SQL warehouse {warehouse_id}.")
        return self.json(
            {
                "id": warehouse_id,
                "name": "CDP writes",
                "cluster_size": "2X-Small",
                "auto_stop_mins": 10,
                "enable_serverless_compute": False,
                "state": self.warehouses[warehouse_id],
                "warehouse_type": "PRO",
            }
        )

    # --- SQL statements -----------------------------------------------------------------------

    def on_submit(self, request):
        user, failure = self.principal(request)
        if failure is not None:
            return failure
        body = request.get_json(silent=True) or {}
        warehouse = body.get("warehouse_id")
        if warehouse not in self.warehouses:
            return self.error(404, "RESOURCE_DOES_NOT_EXIST", f"SQL warehouse {warehouse} does not exist.")
        if self.warehouse_users is not None and not self.principal_names(user) & self.warehouse_users:
            return self.error(403, "PERMISSION_DENIED", f"User is not authorized to use SQL warehouse {warehouse}.")
        wait = body.get("wait_timeout", "10s")
        if not re.fullmatch(r"0s|([5-9]|[1-4][0-9]|50)s", wait):
            return self.error(400, "INVALID_PARAMETER_VALUE", "wait_timeout must be 0s or between 5s and 50s.")
        statement_id = "01ef" + secrets.token_hex(14)
        final = self.run(user, body.get("statement", ""), statement_id)
        pending = self.pending_polls
        if self.warehouses[warehouse] != "RUNNING":  # the statement starts the warehouse (paid compute)
            self.warehouses[warehouse] = "STARTING"
            self.started.append(warehouse)
            pending = max(pending, self.start_polls)
        if pending > 0:
            self.statements[statement_id] = {"left": pending, "final": final, "warehouse": warehouse}
            return self.json({"statement_id": statement_id, "status": {"state": "PENDING"}})
        return self.json(final)

    def run(self, user: dict, statement: str, statement_id: str) -> dict:
        match = NOOP_INSERT.match(statement)
        if not match or (match["into"] is None) != (match["select"] == "*"):
            return self.failed(statement_id, "[PARSE_SYNTAX_ERROR] Syntax error. SQLSTATE: 42601", "42601")
        full_name = match.group(1).replace("`", "")
        if full_name not in self.tables:
            return self.failed(
                statement_id,
                f"[TABLE_OR_VIEW_NOT_FOUND] The table or view {match.group(1)} cannot be found. SQLSTATE: 42P01",
                "42P01",
            )
        columns = self.tables[full_name]["columns"]
        supplied = (
            [c["name"] for c in columns]
            if match["into"] is None
            else [name.strip().strip("`").replace("``", "`") for name in match["into"].split(",")]
        )
        for column in columns:
            metadata = json.loads(column.get("type_json") or "{}").get("metadata", {})
            always = "delta.identity.start" in metadata and not metadata.get("delta.identity.allowExplicitInsert")
            if always and column["name"] in supplied:
                return self.failed(
                    statement_id,
                    "[DELTA_IDENTITY_COLUMNS_EXPLICIT_INSERT_NOT_SUPPORTED] Providing values for GENERATED ALWAYS "
                    f"AS IDENTITY column {column['name']} is not supported.",
                    "42808",
                )
        privileges = self.privileges(user, full_name)
        if not {"MODIFY", "SELECT"} <= privileges and self.tables[full_name]["owner"] not in self.principal_names(user):
            return self.failed(
                statement_id,
                f"[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have "
                f"MODIFY on Table '{full_name}'. SQLSTATE: 42501",
                "42501",
            )
        return {
            "statement_id": statement_id,
            "status": {"state": "SUCCEEDED"},
            "manifest": {
                "format": "JSON_ARRAY",
                "schema": {
                    "column_count": 2,
                    "columns": [
                        {"name": "num_affected_rows", "type_name": "LONG", "type_text": "BIGINT", "position": 0},
                        {"name": "num_inserted_rows", "type_name": "LONG", "type_text": "BIGINT", "position": 1},
                    ],
                },
                "total_chunk_count": 1,
                "total_row_count": 1,
                "truncated": False,
            },
            "result": {"chunk_index": 0, "row_offset": 0, "row_count": 1, "data_array": [["0", "0"]]},
        }

    @staticmethod
    def failed(statement_id: str, message: str, sql_state: str) -> dict:
        return {
            "statement_id": statement_id,
            "status": {
                "state": "FAILED",
                "sql_state": sql_state,
                "error": {"error_code": "BAD_REQUEST", "message": message},
            },
        }

    def on_statement(self, request, statement_id):
        _, failure = self.principal(request)
        if failure is not None:
            return failure
        statement = self.statements.get(statement_id)
        if statement is None:
            return self.error(404, "RESOURCE_DOES_NOT_EXIST", f"Statement {statement_id} not found.")
        if statement["left"] > 0:
            statement["left"] -= 1
            state = "PENDING" if self.warehouses.get(statement["warehouse"]) == "STARTING" else "RUNNING"
            return self.json({"statement_id": statement_id, "status": {"state": state}})
        if self.warehouses.get(statement["warehouse"]) == "STARTING":
            self.warehouses[statement["warehouse"]] = "RUNNING"
        return self.json(statement["final"])

    def on_cancel(self, request, statement_id):
        _, failure = self.principal(request)
        if failure is not None:
            return failure
        self.cancelled.append(statement_id)
        self.statements.pop(statement_id, None)
        return self.json({})


WORKSPACE_URL = "https://dbc-a1b2c3d4-e5f6.cloud.databricks.com"


def valid_config(emulator: DatabricksEmulator) -> dict:
    """A config passing every step (with CONNECTOR_BASE_URLS pointing `databricks` at the emulator): a PAT of a
    principal in the `cdp-writers` group."""
    return {
        "host": WORKSPACE_URL,
        "token": emulator.add_token(),
        "warehouse_id": WAREHOUSE_ID,
        "catalog": "main",
        "schema": "crm",
        "table": "contacts",
    }


EMULATOR = DatabricksEmulator
